import Foundation
import MallocInterposerSwift

/// One measured operation: `body` performs one op and hands its result to `blackHole`.
struct BenchCase {
    let codec: String
    let operation: String
    /// Size of the encoded message the op produces or consumes (nil for in-memory stages).
    let bytes: Int?
    let body: () throws -> Void
}

struct BenchResult: Codable {
    let codec: String
    let operation: String
    /// Median over the runs of (run time / iterations).
    let nsPerOp: Double
    let minNsPerOp: Double
    let maxNsPerOp: Double
    let iterationsPerRun: Int
    let runs: Int
    let bytes: Int?
    /// nil when allocations could not be counted.
    let allocsPerOp: Double?
    let allocatedBytesPerOp: Double?
}

/// Keeps results alive and opaque to the optimizer.
@_optimize(none)
func blackHole<T>(_ value: T) {}

struct Harness {
    /// Target wall time of one run; iterations per run are calibrated to it.
    var runMilliseconds: Double = 60
    var runs: Int = 9
    /// Iterations of the separate allocation-counting pass.
    var allocationIterations: Int = 100
    var countAllocations: Bool

    /// Calibrates every case, then times them in interleaved rounds (round r runs each
    /// case once), so that a noisy stretch of time affects all cases alike; finally
    /// counts allocations in a separate, untimed pass.
    func measure(_ cases: [BenchCase], progress: (String) -> Void) throws -> [BenchResult] {
        let clock = ContinuousClock()
        var iterations: [Int] = []
        for benchCase in cases {
            progress("calibrating \(benchCase.codec) \(benchCase.operation)")
            // Warm-up and calibration: at least 5 ops and 20 ms.
            var warmIterations = 0
            let warmStart = clock.now
            while warmIterations < 5 || clock.now - warmStart < .milliseconds(20) {
                try benchCase.body()
                warmIterations += 1
            }
            let warmNs = nanoseconds(clock.now - warmStart) / Double(warmIterations)
            iterations.append(max(1, Int(runMilliseconds * 1_000_000 / max(warmNs, 1))))
        }

        var perOp = Array(repeating: [Double](), count: cases.count)
        for round in 1...runs {
            progress("timing round \(round)/\(runs)")
            for (index, benchCase) in cases.enumerated() {
                let start = clock.now
                for _ in 0..<iterations[index] { try benchCase.body() }
                perOp[index].append(nanoseconds(clock.now - start) / Double(iterations[index]))
            }
        }

        var results: [BenchResult] = []
        for (index, benchCase) in cases.enumerated() {
            let sorted = perOp[index].sorted()
            let median = sorted.count % 2 == 1
                ? sorted[sorted.count / 2]
                : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            var allocs: Double? = nil
            var allocBytes: Double? = nil
            if countAllocations {
                MallocInterposerSwift.reset()
                MallocInterposerSwift.hook()
                for _ in 0..<allocationIterations { try benchCase.body() }
                MallocInterposerSwift.unhook()
                let stats = MallocInterposerSwift.getStatistics()
                allocs = Double(stats.mallocCount) / Double(allocationIterations)
                allocBytes = Double(stats.mallocBytesCount) / Double(allocationIterations)
            }
            results.append(BenchResult(
                codec: benchCase.codec, operation: benchCase.operation, nsPerOp: median,
                minNsPerOp: sorted.first!, maxNsPerOp: sorted.last!, iterationsPerRun: iterations[index],
                runs: runs, bytes: benchCase.bytes, allocsPerOp: allocs, allocatedBytesPerOp: allocBytes))
        }
        return results
    }

    private func nanoseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    }
}

/// Allocation counting through ordo-one/malloc-interposer. Its `.so` replaces malloc &
/// co. when it is preloaded; the executable links it, and when that alone does not
/// route malloc through it, `main` re-executes itself once with LD_PRELOAD set.
enum AllocationCounter {
    static let reexecMarker = "NKUDO_WIRE_BENCH_REEXEC"

    /// True when mallocs are really counted (probed with one allocation).
    static func isActive() -> Bool {
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        let pointer = malloc(48)
        blackHole(pointer)
        free(pointer)
        MallocInterposerSwift.unhook()
        let counted = MallocInterposerSwift.getStatistics().mallocCount > 0
        MallocInterposerSwift.reset()
        return counted
    }

    /// Re-executes the process with the interposer preloaded; returns only on failure.
    static func reexecWithPreload() {
        #if os(Linux)
        guard ProcessInfo.processInfo.environment[reexecMarker] == nil else { return }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let library = executable.deletingLastPathComponent().appendingPathComponent("libMallocInterposerSwift.so").path
        guard FileManager.default.fileExists(atPath: library) else { return }
        let existing = ProcessInfo.processInfo.environment["LD_PRELOAD"].map { ":" + $0 } ?? ""
        setenv("LD_PRELOAD", library + existing, 1)
        setenv(reexecMarker, "1", 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv(executable.path, argv)
        #endif
    }
}
