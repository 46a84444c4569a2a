import Synchronization

/// Keeps a VM's lifecycle operations (create, start, stop, delete) and its reconciliation
/// apart, so that none of them writes the VM's metadata over another's.
///
/// A lifecycle operation waits for the VM to be free and holds it until it returns. A
/// reconciliation (``MicroVMProvider/state(of:)`` from a heartbeat) never waits: while an
/// operation holds the VM it reports the VM as recorded and leaves the VMM alone, since
/// what it would see (a guest powering off on the stop's power button, a VMM the stop is
/// quitting) is the operation's to record.
final class VMOperationGate: Sendable {
    private struct Holders {
        var held: Set<VMID> = []
        var waiting: [VMID: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let holders = Mutex(Holders())

    /// Runs `body` holding VM `id`, after whoever holds it now has finished.
    func exclusively<T>(_ id: VMID, _ body: () async throws(ProviderError) -> T) async throws(ProviderError) -> T {
        await acquire(id)
        defer { release(id) }
        return try await body()
    }

    /// Runs `body` holding VM `id` when nobody holds it; `nil`, without running `body`, when
    /// an operation holds it.
    func ifFree<T>(_ id: VMID, _ body: () async throws(ProviderError) -> T) async throws(ProviderError) -> T? {
        let acquired = holders.withLock { holders in holders.held.insert(id).inserted }
        guard acquired else { return nil }
        defer { release(id) }
        return try await body()
    }

    /// VM `id`'s state: `check`ed (holding the VM) when no operation holds it, else as
    /// recorded in its metadata at `metadataPath`, without touching its VMM.
    func state(of id: VMID, recordedIn metadataPath: String,
               checking check: () async throws(ProviderError) -> MicroVMState?) async throws(ProviderError) -> MicroVMState? {
        guard let checked = try await ifFree(id, check) else {
            return try VMMetadata.load(from: metadataPath)?.state
        }
        return checked
    }

    private func acquire(_ id: VMID) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let free = holders.withLock { holders in
                if holders.held.insert(id).inserted { return true }
                holders.waiting[id, default: []].append(continuation)
                return false
            }
            if free { continuation.resume() }
        }
    }

    /// Hands VM `id` to the next waiter, or frees it.
    private func release(_ id: VMID) {
        let next = holders.withLock { holders -> CheckedContinuation<Void, Never>? in
            guard var queue = holders.waiting[id], !queue.isEmpty else {
                holders.held.remove(id)
                return nil
            }
            let first = queue.removeFirst()
            holders.waiting[id] = queue.isEmpty ? nil : queue
            return first
        }
        next?.resume()
    }
}
