// swift-tools-version: 6.2
import PackageDescription

// libFuzzer target for NKudoWire's binary and JSON decoders, kept out of the main
// package because everything in it is built with `-sanitize=fuzzer,address`.
// NKudoWire and CProtobufC are the main package's sources (symlinked), so the
// runtime itself carries libFuzzer's coverage instrumentation. See Fuzz/README.md.
let sanitizers = ["-sanitize=fuzzer,address"]

let package = Package(
    name: "nkudo-fuzz",
    platforms: [.macOS(.v15)],
    targets: [
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .target(
            name: "NKudoWire",
            dependencies: ["CProtobufC"],
            swiftSettings: [.unsafeFlags(sanitizers + ["-enable-testing"])]
        ),
        .executableTarget(
            name: "nkudo-fuzz-wire",
            dependencies: ["NKudoWire"],
            swiftSettings: [.unsafeFlags(sanitizers + ["-parse-as-library"])],
            linkerSettings: [.unsafeFlags(sanitizers)]
        ),
    ]
)
