import Foundation
@testable import NKudoEdge
import Testing

/// Issue 11, point 6: heartbeat numbers are a persisted counter, not the clock.
@Suite("Heartbeat sequence")
struct HeartbeatSequenceTests {
    @Test("a new agent starts above the wall-clock numbers of older agents and reserves a block before using it")
    func firstStart() {
        var sequence = HeartbeatSequence(storedCeiling: nil, now: Date(timeIntervalSince1970: 1_800_000_000))
        let first = sequence.next()
        #expect(first.value == 1_800_000_000_001)
        #expect(first.reserve == 1_800_000_000_000 + HeartbeatSequence.block)
        for expected in 1_800_000_000_002...1_800_000_001_000 {
            let next = sequence.next()
            #expect(next.value == expected && next.reserve == nil)
        }
        #expect(sequence.next().reserve == 1_800_000_000_000 + 2 * HeartbeatSequence.block)
    }

    @Test("a restart continues above every number that may have been sent, whatever the clock says")
    func restartIgnoresTheClock() {
        var before = HeartbeatSequence(storedCeiling: nil, now: Date(timeIntervalSince1970: 1_800_000_000))
        var reserved: Int64 = 0
        for _ in 0..<5 {
            if let ceiling = before.next().reserve { reserved = ceiling }
        }
        // The clock stepped back a day; the stored reservation decides.
        var after = HeartbeatSequence(storedCeiling: reserved, now: Date(timeIntervalSince1970: 1_800_000_000 - 86_400))
        #expect(after.next().value > before.last)
    }

    @Test("a higher number at the control plane moves the counter above it and reserves at once")
    func continueAboveServer() {
        var sequence = HeartbeatSequence(storedCeiling: 100, now: Date())
        #expect(sequence.continueAbove(50) == nil)
        #expect(sequence.continueAbove(5000) == 5000 + HeartbeatSequence.block)
        #expect(sequence.next().value == 5001)
    }
}
