import Foundation
import NKudoEdge
import Testing

@Suite("EdgeStateStore")
struct StateStoreTests {
    private func makeStore() throws -> (EdgeStateStore, String) {
        let base = try TestFiles.makeTemporaryDirectory("state")
        let directory = base + "/state"
        return (try EdgeStateStore(directory: directory, logger: TestFiles.logger), directory)
    }

    @Test("the directory is created 0700, files are 0600, the file carries schema_version 1")
    func modesAndSchema() throws {
        let (store, directory) = try makeStore()
        #expect(try TestFiles.mode(directory) == 0o700)
        #expect(!FileManager.default.fileExists(atPath: store.stateFilePath))
        try store.enqueue(kind: .logLine, payload: "{}")
        #expect(try TestFiles.mode(store.stateFilePath) == 0o600)
        #expect(try TestFiles.mode(store.lockPath) == 0o600)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: store.stateFilePath))) as? [String: Any]
        )
        #expect(object["schema_version"] as? Int == 1)
        #expect(try TestFiles.list(directory) == ["edge-state.json", "edge-state.lock"])
    }

    @Test("an existing wider state directory is narrowed to 0700")
    func narrowsDirectory() throws {
        let base = try TestFiles.makeTemporaryDirectory("state")
        try FileManager.default.createDirectory(atPath: base + "/s", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        _ = try EdgeStateStore(directory: base + "/s", logger: TestFiles.logger)
        #expect(try TestFiles.mode(base + "/s") == 0o700)
    }

    @Test("microVM snapshots: replaced as a whole, listed sorted, unchanged content not rewritten, empty id rejected")
    func microVMs() throws {
        let (store, _) = try makeStore()
        let stamp = Date(timeIntervalSince1970: 1_800_000_000)
        try store.replaceMicroVMs([
            MicroVMRecord(id: "vm-b", name: "b", status: "CREATED", updatedAt: stamp),
            MicroVMRecord(id: "vm-a", name: "a", tapIface: "tap0", chPID: 42, status: "RUNNING", updatedAt: stamp),
        ])
        #expect(try store.microVMs().map(\.id) == ["vm-a", "vm-b"])
        #expect(try store.microVM(id: "vm-a")?.chPID == 42)
        let inode = try FileManager.default.attributesOfItem(atPath: store.stateFilePath)[.systemFileNumber] as? UInt64
        try store.replaceMicroVMs(try store.microVMs())
        #expect(try FileManager.default.attributesOfItem(atPath: store.stateFilePath)[.systemFileNumber] as? UInt64 == inode)
        try store.replaceMicroVMs([MicroVMRecord(id: "vm-b", name: "b", status: "STOPPED", updatedAt: stamp)])
        #expect(try store.microVMs().map(\.id) == ["vm-b"])
        #expect(try store.microVM(id: "vm-b")?.status == "STOPPED")
        let error = #expect(throws: EdgeStateError.self) { try store.replaceMicroVMs([MicroVMRecord(id: "", status: "CREATED")]) }
        #expect(error?.code == .invalidArgument)
    }

    @Test("ledger entries are keyed by plan and action; the outcome keeps the start time")
    func ledger() throws {
        let (store, _) = try makeStore()
        let start = Date(timeIntervalSince1970: 1_750_000_000.25)
        #expect(try store.ledgerEntry(planID: "p1", actionID: "a1") == nil)
        try store.recordLedgerStarted(planID: "p1", actionID: "a1", executionID: "e1", startedAt: start)
        #expect(try store.ledgerEntry(planID: "p1", actionID: "a1")?.state == .started)
        #expect(try store.ledgerEntry(planID: "p2", actionID: "a1") == nil)
        let finish = start.addingTimeInterval(3)
        try store.recordLedgerOutcome(
            planID: "p1", actionID: "a1", executionID: "e1", succeeded: false,
            errorCode: "VM_NOT_FOUND", message: "no such vm", finishedAt: finish
        )
        let entry = try #require(try store.ledgerEntry(planID: "p1", actionID: "a1"))
        #expect(entry.state == .failed)
        #expect(entry.errorCode == "VM_NOT_FOUND")
        #expect(entry.message == "no such vm")
        #expect(entry.startedAt == start)
        #expect(entry.finishedAt == finish)
        let text = try String(contentsOfFile: store.stateFilePath, encoding: .utf8)
        #expect(text.contains("\"p1/a1\""))
        try store.recordLedgerOutcome(planID: "p2", actionID: "a1", executionID: "e2", succeeded: true, errorCode: "", message: "ok")
        let second = try #require(try store.ledgerEntry(planID: "p2", actionID: "a1"))
        #expect(second.state == .succeeded)
        #expect(second.errorCode == nil)
    }

    @Test("the outbox is FIFO, survives a new store instance and forgets acknowledged ids")
    func outboxDurability() throws {
        let (store, directory) = try makeStore()
        let first = try store.enqueue(kind: .actionResult, payload: #"{"executionId":"e1","actions":[]}"#)
        let logs = try store.enqueue(kind: .logLine, payloads: [#"{"message":"one"}"#, #"{"message":"two"}"#])
        #expect(Set([first.id] + logs.map(\.id)).count == 3)

        let reopened = try EdgeStateStore(directory: directory, logger: TestFiles.logger)
        let pending = try reopened.peek(limit: 10)
        #expect(pending.map(\.id) == [first.id] + logs.map(\.id))
        #expect(pending[0].kind == .actionResult)
        #expect(pending[0].payload == #"{"executionId":"e1","actions":[]}"#)
        #expect(try reopened.peek(limit: 2).count == 2)
        #expect(try reopened.acknowledge(ids: [first.id, "unknown"]) == 1)
        #expect(try store.peek(limit: 10).map(\.id) == logs.map(\.id))
        #expect(try store.outboxCount() == 2)
    }

    @Test("a corrupt file is an error and is left untouched")
    func corruptFile() throws {
        let (store, directory) = try makeStore()
        try store.enqueue(kind: .logLine, payload: "{}")
        try TestFiles.write(#"{"schema_version":1,"microvms":{"vm-1":"#, to: store.stateFilePath)
        let error = #expect(throws: EdgeStateError.self) { try EdgeStateStore(directory: directory, logger: TestFiles.logger) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("edge-state.json") == true)
        let writeError = #expect(throws: EdgeStateError.self) { try store.enqueue(kind: .logLine, payload: "{}") }
        #expect(writeError?.code == .corrupt)
        #expect(try String(contentsOfFile: store.stateFilePath, encoding: .utf8) == #"{"schema_version":1,"microvms":{"vm-1":"#)
        try TestFiles.write(#"{"microvms":{}}"#, to: store.stateFilePath)
        #expect(throws: EdgeStateError.self) { try store.microVMs() }
    }

    @Test("an unknown future schema_version is refused")
    func futureSchema() throws {
        let (store, directory) = try makeStore()
        try TestFiles.write(#"{"schema_version":2,"something_new":true}"#, to: store.stateFilePath)
        let error = #expect(throws: EdgeStateError.self) { try EdgeStateStore(directory: directory, logger: TestFiles.logger) }
        #expect(error?.code == .unsupportedSchema)
    }

    @Test("an empty file is an empty state")
    func emptyFile() throws {
        let (store, directory) = try makeStore()
        try TestFiles.write("", to: store.stateFilePath)
        let reopened = try EdgeStateStore(directory: directory, logger: TestFiles.logger)
        #expect(try reopened.microVMs().isEmpty)
        #expect(try reopened.outboxCount() == 0)
    }

    @Test("temporary files of a crashed writer are removed when a store opens")
    func staleTemporaries() throws {
        let (store, directory) = try makeStore()
        try store.enqueue(kind: .logLine, payload: "{}")
        try TestFiles.write("partial", to: store.stateFilePath + ".tmp.999.123")
        _ = try EdgeStateStore(directory: directory, logger: TestFiles.logger)
        #expect(try TestFiles.list(directory) == ["edge-state.json", "edge-state.lock"])
    }

    @Test("two store instances writing in parallel lose no update")
    func twoInstancesInterleave() throws {
        let (first, directory) = try makeStore()
        let second = try EdgeStateStore(directory: directory, logger: TestFiles.logger)
        let stores = [first, second]
        let perStore = 40
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            for step in 0..<perStore {
                _ = try? stores[index].enqueue(kind: .logLine, payload: #"{"store":\#(index),"step":\#(step)}"#)
                _ = try? stores[index].recordLedgerStarted(planID: "p\(index)", actionID: "a\(step)", executionID: "e")
            }
        }
        #expect(try first.outboxCount() == 2 * perStore)
        for index in 0..<2 {
            for step in 0..<perStore {
                #expect(try first.ledgerEntry(planID: "p\(index)", actionID: "a\(step)") != nil)
            }
        }
        #expect(try TestFiles.list(directory) == ["edge-state.json", "edge-state.lock"])
    }
}
