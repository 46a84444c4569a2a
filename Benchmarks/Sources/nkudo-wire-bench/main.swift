// nkudo-wire-bench: encode/decode cost of a realistic HeartbeatRequest through NKudoWire
// and through apple/swift-protobuf. Usage: nkudo-wire-bench --help
import Foundation

struct Options {
    var json = false
    var filter: String? = nil
    var harness = Harness(countAllocations: false)

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--json": options.json = true
            case "--runs": options.harness.runs = max(1, Int(iterator.next() ?? "") ?? options.harness.runs)
            case "--run-ms": options.harness.runMilliseconds = max(1, Double(iterator.next() ?? "") ?? options.harness.runMilliseconds)
            case "--filter": options.filter = iterator.next()
            case "--alloc-iterations": options.harness.allocationIterations = max(1, Int(iterator.next() ?? "") ?? options.harness.allocationIterations)
            case "-h", "--help":
                print("usage: nkudo-wire-bench [--json] [--runs N (default 9)] [--run-ms MS per run (default 60)] [--alloc-iterations N (default 100)] [--filter TEXT (only cases whose \"codec operation\" contains TEXT)]")
                exit(0)
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument) (see --help)\n".utf8))
                exit(2)
            }
        }
        return options
    }
}

struct Report: Codable {
    struct Verification: Codable {
        let binaryEncodingsIdentical: Bool
        let jsonEncodingsIdentical: Bool
        let nkudoWireRoundTrips: Bool
        let swiftProtobufRoundTrips: Bool
        let jsonCrossDecodes: Bool
    }
    let message: String
    let microVMs: Int
    let executionUpdates: Int
    let buildConfiguration: String
    let allocationCounting: String
    let timing: String
    let verification: Verification
    let results: [BenchResult]
}

func run() throws {
    var options = Options.parse(CommandLine.arguments)

    var allocationCounting = "malloc-interposer 1.6.1 (libMallocInterposerSwift.so, linked)"
    if !AllocationCounter.isActive() {
        AllocationCounter.reexecWithPreload() // returns only when it could not re-execute
        allocationCounting = "unavailable (interposer not loaded)"
    } else if ProcessInfo.processInfo.environment[AllocationCounter.reexecMarker] != nil {
        allocationCounting = "malloc-interposer 1.6.1 (libMallocInterposerSwift.so via LD_PRELOAD, self re-exec)"
    }
    options.harness.countAllocations = AllocationCounter.isActive()

    #if DEBUG
    let configuration = "debug (numbers are meaningless: use swift run -c release)"
    FileHandle.standardError.write(Data("warning: debug build; use `swift run -c release nkudo-wire-bench`\n".utf8))
    #else
    let configuration = "release"
    #endif

    let nkudo = try NKudoWireCases(Fixture.heartbeat())
    let swiftProtobuf = try SwiftProtobufCases(decoding: nkudo.binary)
    let nkudoRoundTrips = try nkudo.roundTrips()
    let swiftProtobufRoundTrips = try swiftProtobuf.roundTrips()
    let verification = Report.Verification(
        binaryEncodingsIdentical: nkudo.binary == swiftProtobuf.binary,
        jsonEncodingsIdentical: nkudo.json == swiftProtobuf.json,
        nkudoWireRoundTrips: nkudoRoundTrips.binary && nkudoRoundTrips.json,
        swiftProtobufRoundTrips: swiftProtobufRoundTrips.binary && swiftProtobufRoundTrips.json,
        jsonCrossDecodes: try nkudo.decodesToSameMessage(json: swiftProtobuf.json)
            && swiftProtobuf.decodesToSameMessage(json: nkudo.json)
    )
    let summary = swiftProtobuf.summary
    guard summary.microVMs == Fixture.microVMCount, summary.executionUpdates == Fixture.executionUpdateCount,
          summary.interfaces == 5, verification.nkudoWireRoundTrips, verification.swiftProtobufRoundTrips,
          verification.jsonCrossDecodes else {
        FileHandle.standardError.write(Data("verification failed: \(verification)\n".utf8))
        exit(1)
    }

    let cases = (swiftProtobuf.cases() + nkudo.cases()).filter { benchCase in
        options.filter.map { "\(benchCase.codec) \(benchCase.operation)".contains($0) } ?? true
    }
    let quiet = options.json
    var results = try options.harness.measure(cases) { step in
        if !quiet { FileHandle.standardError.write(Data("\(step)…\n".utf8)) }
    }
    // Report NKudoWire first, then swift-protobuf, then the stages.
    let order = ["nkudo-wire", "swift-protobuf", "nkudo-wire (stage)"]
    let operations = ["binary encode", "binary decode", "json encode", "json decode", "struct -> ProtoFields", "ProtoFields -> struct"]
    func rank(_ result: BenchResult) -> (Int, Int) {
        (order.firstIndex(of: result.codec) ?? order.count, operations.firstIndex(of: result.operation) ?? operations.count)
    }
    results.sort { rank($0) < rank($1) }

    let timing = "ContinuousClock; median of \(options.harness.runs) runs of N iterations (N calibrated to ~\(Int(options.harness.runMilliseconds)) ms/run, cases interleaved round by round) after warm-up; allocations from a separate pass of \(options.harness.allocationIterations) iterations"
    let report = Report(message: "nkudo.v1.HeartbeatRequest", microVMs: summary.microVMs,
                        executionUpdates: summary.executionUpdates, buildConfiguration: configuration,
                        allocationCounting: allocationCounting, timing: timing,
                        verification: verification, results: results)
    if options.json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        FileHandle.standardOutput.write(try encoder.encode(report))
        print()
    } else {
        printTable(report)
    }
}

func printTable(_ report: Report) {
    func format(_ value: Double, decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
    let header = ["codec", "operation", "ns/op", "bytes", "allocs/op"]
    let rows = report.results.map { result in
        [result.codec, result.operation, format(result.nsPerOp, decimals: 0),
         result.bytes.map(String.init) ?? "-",
         result.allocsPerOp.map { allocs in
             let text = format(allocs, decimals: 1)
             return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
         } ?? "n/a"]
    }
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { column, cell in
            let pad = String(repeating: " ", count: widths[column] - cell.count)
            return column < 2 ? cell + pad : pad + cell // text left, numbers right
        }.joined(separator: "  ")
    }
    print("\(report.message): \(report.microVMs) microVM reports, \(report.executionUpdates) execution updates, full host facts, NetBird status (\(report.buildConfiguration) build)")
    print(line(header))
    print(line(widths.map { String(repeating: "-", count: $0) }))
    rows.forEach { print(line($0)) }
    let v = report.verification
    print("timing: \(report.timing)")
    print("allocations: \(report.allocationCounting); malloc/calloc/realloc/posix_memalign calls per op")
    print("verification: binary encodings byte-identical: \(v.binaryEncodingsIdentical ? "yes" : "NO"); "
        + "JSON byte-identical: \(v.jsonEncodingsIdentical ? "yes" : "no (swift-protobuf omits default-valued fields, NKudoWire prints them)"); "
        + "own round trips: ok; each codec decodes the other's JSON to the same message: \(v.jsonCrossDecodes ? "yes" : "NO")")
    func result(_ codec: String, _ operation: String) -> BenchResult? {
        report.results.first { $0.codec == codec && $0.operation == operation }
    }
    let operations = ["binary encode", "binary decode", "json encode", "json decode"]
    let ratios = operations.compactMap { operation -> String? in
        guard let a = result("nkudo-wire", operation), let b = result("swift-protobuf", operation) else { return nil }
        return "\(operation) \(format(a.nsPerOp / b.nsPerOp, decimals: 2))x"
    }
    print("nkudo-wire / swift-protobuf time: " + ratios.joined(separator: ", "))
    let allocationRatios = operations.compactMap { operation -> String? in
        guard let a = result("nkudo-wire", operation)?.allocsPerOp, let b = result("swift-protobuf", operation)?.allocsPerOp, b > 0 else {
            return nil
        }
        return "\(operation) \(format(a / b, decimals: 2))x"
    }
    if !allocationRatios.isEmpty {
        print("nkudo-wire / swift-protobuf allocations: " + allocationRatios.joined(separator: ", "))
    }
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("nkudo-wire-bench: \(error)\n".utf8))
    exit(1)
}
