import Testing

@testable import NKudoStore

/// The wake-ups of agents' long polls, without I/O.
@Suite("Plan arrivals")
struct PlanArrivalsTests {
    /// A deadline no test reaches; "at once" below means well before it. The suites run
    /// side by side on the machine's cores: with a build running beside them, a 300 ms wait
    /// once ended only after more than 15 s, its resumption queued behind other suites' work.
    static func far() -> ContinuousClock.Instant { .now.advanced(by: .seconds(60)) }
    static let atOnce = Duration.seconds(40)

    @Test("an arrival after the mark ends the wait at once, even when it came before the wait began")
    func arrivalBeforeTheWait() async {
        let arrivals = PlanArrivals()
        let mark = await arrivals.mark()
        await arrivals.signal(siteID: "a")
        let started = ContinuousClock.now
        #expect(await arrivals.wait(siteID: "a", since: mark, until: Self.far()))
        #expect(started.duration(to: .now) < Self.atOnce)
    }

    @Test("a waiting poll wakes on its site's arrival, not on another site's")
    func wakesOnItsSite() async throws {
        let arrivals = PlanArrivals()
        let mark = await arrivals.mark()
        let waiter = Task { await arrivals.wait(siteID: "a", since: mark, until: Self.far()) }
        try await Task.sleep(for: .milliseconds(100))
        await arrivals.signal(siteID: "b")
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        await arrivals.signal(siteID: "a")
        #expect(await waiter.value)
        #expect(started.duration(to: .now) < Self.atOnce)
    }

    @Test("an arrival for every site (notifications may have been missed) wakes every wait")
    func everySite() async throws {
        let arrivals = PlanArrivals()
        let mark = await arrivals.mark()
        let waiters = ["a", "b"].map { site in Task { await arrivals.wait(siteID: site, since: mark, until: Self.far()) } }
        try await Task.sleep(for: .milliseconds(100))
        await arrivals.signal(siteID: nil)
        for waiter in waiters { #expect(await waiter.value) }
        #expect(await arrivals.wait(siteID: "c", since: mark, until: Self.far()))
    }

    @Test("without an arrival the wait ends at its deadline, and an arrival of another site does not count")
    func deadline() async {
        let arrivals = PlanArrivals()
        let mark = await arrivals.mark()
        await arrivals.signal(siteID: "b")
        let started = ContinuousClock.now
        #expect(await arrivals.wait(siteID: "a", since: mark, until: .now.advanced(by: .milliseconds(300))) == false)
        let waited = started.duration(to: .now)
        #expect(waited >= .milliseconds(300) && waited < Self.atOnce)
        #expect(await arrivals.wait(siteID: "a", since: mark, until: .now) == false)
    }

    @Test("a cancelled wait ends at once and leaves nothing behind for later waits")
    func cancellation() async throws {
        let arrivals = PlanArrivals()
        let mark = await arrivals.mark()
        let waiter = Task { await arrivals.wait(siteID: "a", since: mark, until: Self.far()) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        waiter.cancel()
        #expect(await waiter.value == false)
        #expect(started.duration(to: .now) < Self.atOnce)
        let next = await arrivals.mark()
        let later = Task { await arrivals.wait(siteID: "a", since: next, until: Self.far()) }
        try await Task.sleep(for: .milliseconds(100))
        await arrivals.signal(siteID: "a")
        #expect(await later.value)
    }
}
