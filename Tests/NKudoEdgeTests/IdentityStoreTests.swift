import Foundation
import NKudoEdge
import Testing

/// The agent's identity file when it is damaged: a reason in a few words and the way out.
@Suite("Identity store")
struct IdentityStoreTests {
    @Test("a damaged identity names what is wrong and how to enroll again, without Swift's debug text", arguments: [
        ("{not json", "not JSON"),
        (#"{"tenant_id": "t"}"#, "is missing"),
        ("[]", "wrong type"),
    ])
    func damaged(text: String, reason: String) throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "nkudo-identity-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try text.write(toFile: directory + "/agent-identity.json", atomically: true, encoding: .utf8)
        let error = #expect(throws: IdentityError.self) { _ = try IdentityStore(directory: directory).load() }
        let description = error?.description ?? ""
        #expect(description.contains(reason) && description.hasSuffix("enroll again with nkudo-edge enroll --force"), "\(description)")
        #expect(!description.contains("Debug description") && !description.contains("codingPath"), "\(description)")
    }
}
