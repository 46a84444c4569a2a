import Testing

@testable import NKudoControlPlane

/// ``ControlPlane/mapLargeAllocationsApart(environment:)``: glibc's mmap threshold, unless the
/// operator set one. (Applying it changes the test process's malloc too, as it does the
/// control plane's.)
@Suite("Heap tuning")
struct HeapTuningTests {
    static let glibc: Bool = {
        #if canImport(Glibc)
        true
        #else
        false
        #endif
    }()

    @Test("an operator's own mmap threshold is left as it is", arguments: [
        ["MALLOC_MMAP_THRESHOLD_": "65536"],
        ["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"],
        ["GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=4096"],
    ])
    func operatorSettingWins(environment: [String: String]) {
        #expect(!ControlPlane.mapLargeAllocationsApart(environment: environment))
    }

    @Test("without one, the control plane's threshold takes effect", .enabled(if: glibc, "mallopt is glibc's"))
    func applied() {
        #expect(ControlPlane.mapLargeAllocationsApart(environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=2"]))
    }
}
