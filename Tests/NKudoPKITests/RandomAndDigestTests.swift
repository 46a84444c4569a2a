import Foundation
import NKudoPKI
import Testing

@Suite("Random values and digests")
struct RandomAndDigestTests {
    @Test("bytes returns the requested count")
    func bytes() {
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(SecureRandom.bytes(-1).isEmpty)
        #expect(SecureRandom.bytes(1).count == 1)
        #expect(SecureRandom.bytes(100_000).count == 100_000)
        #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
    }

    @Test("tokens are 43 base64url characters without padding, all different")
    func tokens() {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let tokens = (0..<200).map { _ in SecureRandom.token() }
        for token in tokens {
            #expect(token.count == 43)
            #expect(token.allSatisfy { alphabet.contains($0) })
        }
        #expect(Set(tokens).count == tokens.count)
        let decoded = Data(base64Encoded: tokens[0].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "=")
        #expect(decoded?.count == 32)
    }

    @Test("UUIDs are random version 4 UUIDs in lowercase canonical form")
    func uuids() throws {
        let uuids = (0..<200).map { _ in SecureRandom.uuid() }
        for uuid in uuids {
            #expect(uuid.count == 36)
            #expect(uuid == uuid.lowercased())
            let parsed = try #require(UUID(uuidString: uuid))
            #expect(parsed.uuidString.lowercased() == uuid)
            let characters = Array(uuid)
            #expect(characters[14] == "4")
            #expect("89ab".contains(characters[19]))
        }
        #expect(Set(uuids).count == uuids.count)
    }

    @Test("SHA-256 matches the standard test vectors")
    func sha256() {
        #expect(Digest.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256Hex(Array("abc".utf8)) == Digest.sha256Hex("abc"))
        #expect(
            Digest.sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        )
    }

    @Test("constantTimeEquals compares contents and lengths")
    func constantTimeEquals() {
        let a: [UInt8] = Array("correct horse battery staple".utf8)
        #expect(Digest.constantTimeEquals(a, a))
        #expect(Digest.constantTimeEquals([], []))
        var lastDiffers = a
        lastDiffers[a.count - 1] ^= 1
        var firstDiffers = a
        firstDiffers[0] ^= 0x80
        #expect(!Digest.constantTimeEquals(a, lastDiffers))
        #expect(!Digest.constantTimeEquals(a, firstDiffers))
        #expect(!Digest.constantTimeEquals(a, Array(a.dropLast())))
        #expect(!Digest.constantTimeEquals(a, a + [0]))
        #expect(!Digest.constantTimeEquals([], [0]))
    }

    @Test("error codes describe themselves")
    func errorDescription() {
        let error = PKIError(code: .policy, message: "key too small")
        #expect(error.description == "policy: key too small")
        #expect(PKIError.Code.notValidNow.description == "not_valid_now")
        #expect(error == PKIError(code: .policy, message: "key too small"))
    }
}

@Suite("Incremental SHA-256")
struct SHA256HasherTests {
    @Test("chunked input gives the standard digest (one million 'a')")
    func millionA() {
        let hasher = SHA256Hasher()
        for _ in 0..<1000 {
            hasher.update(Array(repeating: UInt8(ascii: "a"), count: 1000))
        }
        #expect(hasher.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        let empty = SHA256Hasher()
        #expect(empty.finalizeHex() == Digest.sha256Hex([]))
    }
}
