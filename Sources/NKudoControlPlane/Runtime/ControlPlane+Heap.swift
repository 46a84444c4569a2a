#if canImport(Glibc)
import CMalloc
#endif

extension ControlPlane {
    /// The size from which glibc's malloc gives an allocation pages of its own
    /// (`M_MMAP_THRESHOLD`) in the control plane: 16 KiB.
    static let mmapThreshold: Int32 = 16 * 1024

    /// Gives allocations of 16 KiB and more pages of their own, so that only the pages they
    /// write are resident.
    ///
    /// swift-nio-ssl allocates two such buffers for every connection when its handler is
    /// added (a 32 KiB plaintext read buffer and a 16 KiB outbound one), keeps them as long as
    /// the connection and writes a few pages of each. In glibc's heap (its default threshold
    /// is 128 KiB) they share pages with other objects and take over freed, already written
    /// memory; on pages of their own they cost what they hold. `scripts/connection-memory`:
    /// 31.3 → 29.6 KiB per idle agent connection (README, "Memory per idle agent connection").
    /// An operator's own setting (`MALLOC_MMAP_THRESHOLD_`, or `glibc.malloc.mmap_threshold`
    /// in `GLIBC_TUNABLES`) is left as it is.
    ///
    /// Call it once, first thing in `main`; returns whether it took effect.
    @discardableResult
    public static func mapLargeAllocationsApart(environment: [String: String]) -> Bool {
        #if canImport(Glibc)
        if environment["MALLOC_MMAP_THRESHOLD_"] != nil || environment["GLIBC_TUNABLES", default: ""].contains("glibc.malloc.mmap_threshold") {
            return false
        }
        return mallopt(M_MMAP_THRESHOLD, mmapThreshold) == 1
        #else
        return false
        #endif
    }
}
