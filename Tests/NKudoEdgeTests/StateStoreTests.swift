import Foundation
@testable import NKudoEdge
import Testing

@Suite("EdgeStateStore")
struct StateStoreTests {
    private func makeStore(limits: OutboxLimits = OutboxLimits()) async throws -> (EdgeStateStore, String) {
        let base = try TestFiles.makeTemporaryDirectory("state")
        let directory = base + "/state"
        return (try await EdgeStateStore.open(directory: directory, limits: limits, logger: TestFiles.logger), directory)
    }

    @Test("the directory is created 0700, the database file 0600")
    func modes() async throws {
        let (store, directory) = try await makeStore()
        try await store.enqueue(kind: .logLine, payload: "{}")
        #expect(try TestFiles.mode(directory) == 0o700)
        #expect(try TestFiles.mode(store.databasePath) == 0o600)
        #expect(try TestFiles.list(directory).contains(EdgeStateStore.fileName))
    }

    @Test("an existing wider state directory is narrowed to 0700")
    func narrowsDirectory() async throws {
        let base = try TestFiles.makeTemporaryDirectory("state")
        try FileManager.default.createDirectory(atPath: base + "/s", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        _ = try await EdgeStateStore.open(directory: base + "/s", logger: TestFiles.logger)
        #expect(try TestFiles.mode(base + "/s") == 0o700)
    }

    @Test("microVM snapshots: replaced as a whole, listed sorted, empty id rejected")
    func microVMs() async throws {
        let (store, _) = try await makeStore()
        let stamp = Date(timeIntervalSince1970: 1_800_000_000)
        try await store.replaceMicroVMs([
            MicroVMRecord(id: "vm-b", name: "b", status: "CREATED", updatedAt: stamp),
            MicroVMRecord(id: "vm-a", name: "a", tapIface: "tap0", chPID: 42, status: "RUNNING", updatedAt: stamp),
        ])
        #expect(try await store.microVMs().map(\.id) == ["vm-a", "vm-b"])
        #expect(try await store.microVM(id: "vm-a")?.chPID == 42)
        #expect(try await store.microVM(id: "vm-a")?.updatedAt == stamp)
        try await store.replaceMicroVMs([MicroVMRecord(id: "vm-b", name: "b", status: "STOPPED", updatedAt: stamp)])
        #expect(try await store.microVMs().map(\.id) == ["vm-b"])
        #expect(try await store.microVM(id: "vm-b")?.status == "STOPPED")
        let error = await #expect(throws: EdgeStateError.self) { try await store.replaceMicroVMs([MicroVMRecord(id: "", status: "CREATED")]) }
        #expect(error?.code == .invalidArgument)
    }

    @Test("ledger entries are keyed by plan and action; the outcome keeps the start time")
    func ledger() async throws {
        let (store, directory) = try await makeStore()
        let start = Date(timeIntervalSince1970: 1_750_000_000.25)
        #expect(try await store.ledgerEntry(planID: "p1", actionID: "a1") == nil)
        try await store.recordLedgerStarted(planID: "p1", actionID: "a1", executionID: "e1", startedAt: start)
        #expect(try await store.ledgerEntry(planID: "p1", actionID: "a1")?.state == .started)
        #expect(try await store.ledgerEntry(planID: "p2", actionID: "a1") == nil)
        let finish = start.addingTimeInterval(3)
        try await store.recordLedgerOutcome(planID: "p1", actionID: "a1", executionID: "e1", succeeded: false,
                                            errorCode: "VM_NOT_FOUND", message: "no such vm", finishedAt: finish)
        let entry = try #require(try await store.ledgerEntry(planID: "p1", actionID: "a1"))
        #expect(entry.state == .failed && entry.errorCode == "VM_NOT_FOUND" && entry.message == "no such vm")
        #expect(entry.startedAt == start && entry.finishedAt == finish)
        try await store.recordLedgerOutcome(planID: "p2", actionID: "a1", executionID: "e2", succeeded: true, errorCode: "", message: "ok")
        let second = try #require(try await store.ledgerEntry(planID: "p2", actionID: "a1"))
        #expect(second.state == .succeeded && second.errorCode == nil)
        let reopened = try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger)
        #expect(try await reopened.ledgerEntry(planID: "p1", actionID: "a1") == entry)
        await #expect(throws: EdgeStateError.self) { try await store.recordLedgerStarted(planID: "", actionID: "a", executionID: "e") }
    }

    @Test("the outbox is FIFO, survives a new store instance and forgets acknowledged ids")
    func outboxDurability() async throws {
        let (store, directory) = try await makeStore()
        let first = try await store.enqueue(kind: .actionResult, payload: #"{"executionId":"e1","actions":[]}"#)
        let one = try await store.enqueue(kind: .logLine, payload: #"{"message":"one"}"#)
        let two = try await store.enqueue(kind: .logLine, payload: #"{"message":"two"}"#)
        #expect(Set([first.id, one.id, two.id]).count == 3)

        let reopened = try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger)
        let pending = try await reopened.peek(limit: 10)
        #expect(pending.map(\.id) == [first.id, one.id, two.id])
        #expect(pending[0].kind == .actionResult)
        #expect(pending[0].payload == #"{"executionId":"e1","actions":[]}"#)
        #expect(try await reopened.peek(limit: 2).count == 2)
        #expect(try await reopened.acknowledge(ids: [first.id, "unknown", "999999"]) == 1)
        #expect(try await store.peek(limit: 10).map(\.id) == [one.id, two.id])
        #expect(try await store.outboxCount() == 2)
    }

    @Test("a full outbox drops the oldest log lines, counts them until reported, and never drops a result")
    func boundedOutbox() async throws {
        let (store, _) = try await makeStore(limits: OutboxLimits(maxLogLines: 100, maxLogBytes: 1 << 20))
        let result = try await store.enqueue(kind: .actionResult, payload: #"{"result":1}"#)
        for index in 0..<250 {
            try await store.enqueue(kind: .logLine, payload: #"{"line":\#(index)}"#)
        }
        let pending = try await store.peek(limit: 1000)
        #expect(pending.first?.id == result.id, "the result is kept, first")
        let lines = pending.filter { $0.kind == .logLine }
        #expect(lines.count <= 100 && lines.count >= 90)
        #expect(lines.last?.payload == #"{"line":249}"#, "the newest line is kept")
        let dropped = try await store.droppedLogLines()
        #expect(Int(dropped) == 250 - lines.count)
        try await store.reportedDroppedLogLines(dropped - 5)
        #expect(try await store.droppedLogLines() == 5)
        // Bytes bound the outbox too.
        let (small, _) = try await makeStore(limits: OutboxLimits(maxLogLines: 1_000_000, maxLogBytes: 4096))
        for _ in 0..<100 {
            try await small.enqueue(kind: .logLine, payload: String(repeating: "x", count: 100))
        }
        let kept = try await small.peek(limit: 1000)
        #expect(kept.reduce(0) { $0 + $1.payload.utf8.count } <= 4096)
        #expect(try await small.droppedLogLines() > 0)
    }

    @Test("24 hours offline: 100,000 log lines stay within the outbox's bounds and memory stays flat")
    func dayOffline() async throws {
        let limits = OutboxLimits(maxLogLines: 10_000, maxLogBytes: 2 << 20)
        let (store, _) = try await makeStore(limits: limits)
        let sink = OutboxLogSink(store: store, logger: TestFiles.logger)
        let message = String(repeating: "m", count: 150)
        var residentAfterWarmUp = 0
        for index in 0..<100_000 {
            await sink.emit(ExecutionLogEntry(executionID: "2b1f0c3e-5a7d-4e8f-9b0a-1c2d3e4f5a6b", actionID: "a", severity: .info,
                                              message: "\(index) \(message)", leaseToken: 1))
            if index == 20_000 { residentAfterWarmUp = TestFiles.residentBytes() }
        }
        let growth = TestFiles.residentBytes() - residentAfterWarmUp
        let pending = try await store.peek(limit: 20_000)
        #expect(pending.count <= limits.maxLogLines)
        #expect(pending.reduce(0) { $0 + $1.payload.utf8.count } <= limits.maxLogBytes)
        #expect(try await store.droppedLogLines() == Int64(100_000 - pending.count))
        #expect(pending.last?.payload.contains("99999 ") == true)
        #expect(growth < 32 << 20, "resident memory grew \(growth >> 20) MiB over the last 80,000 lines")
        let size = try FileManager.default.attributesOfItem(atPath: store.databasePath)[.size] as? Int ?? 0
        #expect(size < 64 << 20, "the database holds \(size >> 20) MiB")
    }

    @Test("the edge-state.json of the previous release is imported once and kept as .migrated")
    func importsLegacyState() async throws {
        let base = try TestFiles.makeTemporaryDirectory("state")
        let directory = base + "/state"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try TestFiles.write("""
            {"schema_version":1,"heartbeat_sequence_ceiling":1800000001000,
             "ledger":{"p1/a1":{"plan_id":"p1","action_id":"a1","state":"succeeded","execution_id":"e1","message":"ok",
                                "started_at":"2026-11-01T10:00:00.250Z","finished_at":"2026-11-01T10:00:03Z"},
                       "p1/a2":{"plan_id":"p1","action_id":"a2","state":"started","execution_id":"e2","message":"",
                                "started_at":"2026-11-01T10:00:04Z"}},
             "microvms":{"vm-1":{"id":"vm-1","name":"web","kernel_path":"","rootfs_path":"/x/disk.raw","tap_iface":"nk1","ch_pid":7,
                                 "status":"RUNNING","updated_at":"2026-11-01T10:00:05Z"}},
             "outbox":[{"id":"u1","kind":"action_result","payload":"{\\"r\\":1}","enqueued_at":"2026-11-01T10:00:06Z"},
                       {"id":"u2","kind":"log_line","payload":"{\\"l\\":1}","enqueued_at":"2026-11-01T10:00:07Z"}]}
            """, to: directory + "/edge-state.json")
        let store = try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger)
        #expect(try await store.ledgerEntry(planID: "p1", actionID: "a1")?.state == .succeeded)
        #expect(try await store.ledgerEntry(planID: "p1", actionID: "a2")?.state == .started)
        #expect(try await store.microVM(id: "vm-1")?.chPID == 7)
        #expect(try await store.peek(limit: 10).map(\.payload) == [#"{"r":1}"#, #"{"l":1}"#])
        #expect(try await store.heartbeatSequenceCeiling() == 1_800_000_001_000)
        #expect(!FileManager.default.fileExists(atPath: directory + "/edge-state.json"))
        #expect(FileManager.default.fileExists(atPath: directory + "/edge-state.json.migrated"))
        // Opening again imports nothing twice.
        _ = try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger)
        #expect(try await store.outboxCount() == 2)
    }

    @Test("a corrupt or newer edge-state.json stops the start and is left untouched")
    func corruptLegacyState() async throws {
        for (text, code) in [(#"{"schema_version":1,"microvms":{"vm-1":"#, EdgeStateError.Code.corrupt),
                             (#"{"microvms":{}}"#, .corrupt), (#"{"schema_version":2,"something_new":true}"#, .unsupportedSchema)] {
            let base = try TestFiles.makeTemporaryDirectory("state")
            let directory = base + "/state"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try TestFiles.write(text, to: directory + "/edge-state.json")
            let error = await #expect(throws: EdgeStateError.self) { try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger) }
            #expect(error?.code == code)
            #expect(error?.message.contains("edge-state.json") == true)
            #expect(try String(contentsOfFile: directory + "/edge-state.json", encoding: .utf8) == text)
        }
    }

    @Test("two store instances (run and apply) writing in parallel lose no update")
    func twoInstancesInterleave() async throws {
        let (first, directory) = try await makeStore()
        let second = try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger)
        let perStore = 40
        await withTaskGroup(of: Void.self) { group in
            for (index, store) in [first, second].enumerated() {
                group.addTask {
                    for step in 0..<perStore {
                        _ = try? await store.enqueue(kind: .logLine, payload: #"{"store":\#(index),"step":\#(step)}"#)
                        _ = try? await store.recordLedgerStarted(planID: "p\(index)", actionID: "a\(step)", executionID: "e")
                    }
                }
            }
        }
        #expect(try await first.outboxCount() == 2 * perStore)
        for index in 0..<2 {
            for step in 0..<perStore {
                #expect(try await first.ledgerEntry(planID: "p\(index)", actionID: "a\(step)") != nil)
            }
        }
    }
}
