import Foundation
@testable import NKudoControlPlane
import Testing

/// Issue 11, point 7: the rate limit and the aggregation of failed authentications, without I/O.
@Suite("Auth failure ledger")
struct AuthFailureLedgerTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static func key(_ source: String, reason: String = "invalid api key") -> AuthFailureLedger.Key {
        AuthFailureLedger.Key(source: source, rpc: "nkudo.v1.TenantService/ListSites", reason: reason)
    }

    @Test("a source past its budget waits until its window ends; other sources are not affected")
    func budget() {
        var ledger = AuthFailureLedger(limit: 3, window: 60)
        for second in 0..<3 {
            #expect(ledger.retryAfter(source: "a", now: Self.t0.addingTimeInterval(TimeInterval(second))) == nil)
            _ = ledger.fail(Self.key("a"), now: Self.t0.addingTimeInterval(TimeInterval(second)))
        }
        #expect(ledger.retryAfter(source: "a", now: Self.t0.addingTimeInterval(10)) == 50)
        #expect(ledger.retryAfter(source: "b", now: Self.t0.addingTimeInterval(10)) == nil)
        #expect(ledger.retryAfter(source: "a", now: Self.t0.addingTimeInterval(60)) == nil)
        #expect(AuthFailureLedger(limit: 0, window: 60).retryAfter(source: "a", now: Self.t0) == nil)
    }

    @Test("one audit event per (source, RPC, reason) and window, counting its failures")
    func aggregation() {
        var ledger = AuthFailureLedger(limit: 0, window: 60)
        #expect(ledger.fail(Self.key("a"), now: Self.t0) == .insert(Self.key("a")))
        #expect(ledger.pendingCounts().isEmpty, "the event's id is not known yet")
        ledger.recorded(Self.key("a"), id: 7)
        for _ in 0..<299 { #expect(ledger.fail(Self.key("a"), now: Self.t0.addingTimeInterval(1)) == .count) }
        #expect(ledger.fail(Self.key("a", reason: "missing api key"), now: Self.t0) == .insert(Self.key("a", reason: "missing api key")))
        let pending = ledger.pendingCounts()
        #expect(pending.count == 1 && pending.first?.id == 7 && pending.first?.count == 300)
        ledger.written(Self.key("a"), count: 300)
        #expect(ledger.pendingCounts().isEmpty)
        #expect(ledger.fail(Self.key("a"), now: Self.t0.addingTimeInterval(61)) == .insert(Self.key("a")), "a new window, a new event")
    }

    @Test("memory stays bounded under failures from many sources")
    func bounded() {
        var ledger = AuthFailureLedger(limit: 5, window: 60, capacity: 100)
        for index in 0..<10_000 {
            _ = ledger.fail(Self.key("10.0.\(index / 256).\(index % 256)"), now: Self.t0.addingTimeInterval(TimeInterval(index)))
        }
        // Eviction keeps the recent sources: one that fails now is still limited.
        for _ in 0..<5 { _ = ledger.fail(Self.key("attacker"), now: Self.t0.addingTimeInterval(10_000)) }
        #expect(ledger.retryAfter(source: "attacker", now: Self.t0.addingTimeInterval(10_001)) == 59)
        #expect(ledger.retryAfter(source: "10.0.0.1", now: Self.t0.addingTimeInterval(10_001)) == nil)
    }
}
