import Foundation
@testable import NKudoControlPlane
import Testing

/// Ids from clients and agents are canonicalised by hand, byte by byte: the same answers
/// as Foundation's `UUID(uuidString:)` followed by the lowercased `uuidString` for every
/// UUID, and nil for what is not one (which Foundation's parser sometimes accepted).
@Suite("Canonical ids")
struct IdentifiersTests {
    /// What the control plane did before, through Foundation.
    static func foundationCanonical(_ text: String) -> String? {
        let trimmed = text.trimmedBlanks
        guard trimmed.utf8.count == 36, let uuid = UUID(uuidString: String(trimmed)) else { return nil }
        return uuid.uuidString.lowercased()
    }

    @Test("Valid UUIDs in either case, with blanks around them, become lowercase")
    func valid() {
        #expect(Identifiers.canonicalUUID("7C9E2F4A-6B8D-4C1E-A3F5-0B2D4E6F8A9C") == "7c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8a9c")
        #expect(Identifiers.canonicalUUID(" \t0b2d4e6f-8a9c-4c1e-a3f5-7c9e2f4a6b8d\u{00A0}") == "0b2d4e6f-8a9c-4c1e-a3f5-7c9e2f4a6b8d")
        #expect(Identifiers.canonicalUUID("00000000-0000-0000-0000-000000000000") == "00000000-0000-0000-0000-000000000000")
    }

    @Test("Anything else is not an id", arguments: [
        "", "not-a-uuid", "7c9e2f4a6b8d4c1ea3f50b2d4e6f8a9c", "7c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8a9", "7c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8a9cc",
        "7c9e2f4a_6b8d-4c1e-a3f5-0b2d4e6f8a9c", "7c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8a9g", "{7c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8a9}",
        "7c9e2f4a-6b8d-4c1e-a3f5--b2d4e6f8a9c", "7c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8aé", "7c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8a\u{0}c",
        "7c9e2f4a 6b8d 4c1e a3f5 0b2d4e6f8a9c", "７c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8a9",
    ])
    func invalid(text: String) {
        #expect(Identifiers.canonicalUUID(text) == nil)
    }

    /// swift-corelibs-foundation's parser (sscanf) read this as 7c9e2f4a-6b8d-4c1e-a3f5-f52d4e6f8a9c:
    /// a VM reported under a malformed id was stored under another one.
    @Test("A malformed id that Foundation's parser read as another UUID is refused")
    func malformedGroup() {
        #expect(Identifiers.canonicalUUID("7c9e2f4a-6b8d-4c1e-a3f5--b2d4e6f8a9c") == nil)
    }

    @Test("Random UUIDs, random case: the same as through Foundation")
    func matchesFoundation() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let text = String(UUID().uuidString.map { Bool.random(using: &generator) ? Character($0.lowercased()) : $0 })
            #expect(Identifiers.canonicalUUID(text) == Self.foundationCanonical(text))
            #expect(Identifiers.canonicalUUID(text) == text.lowercased())
        }
    }
}
