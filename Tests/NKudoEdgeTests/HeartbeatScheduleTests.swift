import NKudoEdge
import Testing

@Suite("HeartbeatSchedule")
struct HeartbeatScheduleTests {
    @Test("the server's interval is used, bounded to 1 s…1 h; zero keeps the current one (defect 21)")
    func serverInterval() {
        var schedule = HeartbeatSchedule(interval: .seconds(15), jitter: 0, random: { $0.lowerBound })
        #expect(schedule.succeeded(serverSeconds: 30) == .seconds(30))
        #expect(schedule.succeeded(serverSeconds: 0) == .seconds(30))
        #expect(schedule.succeeded(serverSeconds: -5) == .seconds(30))
        #expect(schedule.succeeded(serverSeconds: 86_400) == .seconds(3600))
        var tiny = HeartbeatSchedule(interval: .zero, jitter: 0)
        #expect(tiny.interval == .seconds(1), "a zero interval never makes a busy loop")
        #expect(tiny.succeeded(serverSeconds: 0) == .seconds(1))
    }

    @Test("jitter spreads the interval by the configured fraction")
    func jitter() {
        var low = HeartbeatSchedule(interval: .seconds(10), jitter: 0.1, random: { $0.lowerBound })
        var high = HeartbeatSchedule(interval: .seconds(10), jitter: 0.1, random: { $0.upperBound })
        #expect(low.succeeded(serverSeconds: 0) == .seconds(9))
        #expect(high.succeeded(serverSeconds: 0) == .seconds(11))
    }

    @Test("failures back off exponentially up to the cap, jittered down to half; a success resets")
    func backoff() {
        var schedule = HeartbeatSchedule(interval: .seconds(60), jitter: 0, initialBackoff: .seconds(1), maximumBackoff: .seconds(30),
                                         random: { $0.upperBound })
        let delays = (0..<8).map { _ in schedule.failed() }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30)])
        #expect(schedule.failures == 8)
        _ = schedule.succeeded(serverSeconds: 0)
        #expect(schedule.failures == 0)
        #expect(schedule.failed() == .seconds(1))
        var halved = HeartbeatSchedule(interval: .seconds(60), initialBackoff: .seconds(4), random: { $0.lowerBound })
        #expect(halved.failed() == .seconds(2))
    }

    @Test("the backoff never exceeds twice the normal interval")
    func backoffBoundedByInterval() {
        var schedule = HeartbeatSchedule(interval: .seconds(2), jitter: 0, maximumBackoff: .seconds(60), random: { $0.upperBound })
        #expect((0..<10).map { _ in schedule.failed() }.max() == .seconds(4))
    }
}
