// swift-tools-version: 6.2
import PackageDescription

// libFuzzer target for NKudoWire's binary and JSON decoders, kept out of the main
// package because everything in it is built with `-sanitize=fuzzer,address`.
// NKudoWire, CProtobufC, NKudoContract and its generator (NKudoCodeGen,
// protoc-gen-nkudo, NKudoContractPlugin, and `proto/`) are the main package's sources
// (symlinked), so the runtime and the generated contract carry libFuzzer's coverage
// instrumentation. See Fuzz/README.md.
let sanitizers = ["-sanitize=fuzzer,address"]

/// The main package's upcoming features, so the shared sources compile as they do there.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "nkudo-fuzz",
    platforms: [.macOS(.v15)],
    targets: [
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .target(
            name: "NKudoWire",
            dependencies: ["CProtobufC"],
            swiftSettings: swiftSettings + [.unsafeFlags(sanitizers + ["-enable-testing"])]
        ),
        // The contract's generator runs at build time; it links the instrumented
        // NKudoWire, hence AddressSanitizer's runtime (not libFuzzer's, which has a `main`).
        .target(
            name: "NKudoCodeGen",
            dependencies: ["NKudoWire"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "protoc-gen-nkudo",
            dependencies: ["NKudoCodeGen"],
            swiftSettings: swiftSettings,
            linkerSettings: [.unsafeFlags(["-sanitize=address"])]
        ),
        .plugin(
            name: "NKudoContractPlugin",
            capability: .buildTool(),
            dependencies: ["protoc-gen-nkudo"]
        ),
        .target(
            name: "NKudoContract",
            dependencies: ["NKudoWire"],
            swiftSettings: swiftSettings + [.unsafeFlags(sanitizers)],
            plugins: ["NKudoContractPlugin"]
        ),
        .executableTarget(
            name: "nkudo-fuzz-wire",
            dependencies: ["NKudoWire", "NKudoContract"],
            swiftSettings: [.unsafeFlags(sanitizers + ["-parse-as-library"])],
            linkerSettings: [.unsafeFlags(sanitizers)]
        ),
    ]
)
