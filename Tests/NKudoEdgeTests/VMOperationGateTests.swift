@testable import NKudoEdge
import Testing

@Suite("VM operation gate")
struct VMOperationGateTests {
    let id = try! VMID("vm-gated")

    @Test("a reconciliation does not run while an operation holds the VM, and runs once it is free")
    func reconciliationSkipsHeldVM() async throws {
        let gate = VMOperationGate()
        let skipped = try await gate.exclusively(id) { () async throws(ProviderError) in
            try await gate.ifFree(id) { () async throws(ProviderError) in "reconciled" }
        }
        #expect(skipped == nil)
        let ran = try await gate.ifFree(id) { () async throws(ProviderError) in "reconciled" }
        #expect(ran == "reconciled")
    }

    @Test("another VM is not held by an operation on this one")
    func otherVMFree() async throws {
        let gate = VMOperationGate()
        let other = try VMID("vm-other")
        let ran = try await gate.exclusively(id) { () async throws(ProviderError) in
            try await gate.ifFree(other) { () async throws(ProviderError) in true }
        }
        #expect(ran == true)
    }

    @Test("operations on one VM run one after another, in the order they came")
    func operationsQueue() async throws {
        let gate = VMOperationGate()
        let log = Log()
        let (started, opened) = AsyncStream.makeStream(of: Void.self)
        let first = Task {
            try await gate.exclusively(id) { () async throws(ProviderError) in
                await log.append("first begins")
                opened.yield()
                try? await Task.sleep(for: .milliseconds(200))
                await log.append("first ends")
            }
        }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        let second = Task {
            try await gate.exclusively(id) { () async throws(ProviderError) in await log.append("second") }
        }
        try await first.value
        try await second.value
        #expect(await log.entries == ["first begins", "first ends", "second"])
        let free = try await gate.ifFree(id) { () async throws(ProviderError) in true }
        #expect(free == true, "the VM is free after the last operation")
    }

    @Test("an operation that throws frees the VM")
    func throwingOperationFrees() async throws {
        let gate = VMOperationGate()
        await #expect(throws: ProviderError.self) {
            try await gate.exclusively(id) { () async throws(ProviderError) in throw ProviderError(.io, "disk full") }
        }
        let free = try await gate.ifFree(id) { () async throws(ProviderError) in true }
        #expect(free == true)
    }

    actor Log {
        var entries: [String] = []
        func append(_ entry: String) { entries.append(entry) }
    }
}
