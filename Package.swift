// swift-tools-version: 6.2
import PackageDescription

/// Settings every target of the package shares: Swift 6 language mode plus the
/// upcoming features the Swift server ecosystem builds with.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "n-kudo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nkudo-control-plane", targets: ["nkudo-control-plane"]),
        .executable(name: "nkudo-edge", targets: ["nkudo-edge"]),
        // For the separate Benchmarks/ and Fuzz/ packages.
        .library(name: "NKudoWire", targets: ["NKudoWire"]),
        .library(name: "NKudoContract", targets: ["NKudoContract"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C libraries, one system-library target each.
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // The wire runtime of the generated contract: binary through libprotobuf-c, proto3 JSON.
        .target(
            name: "NKudoWire",
            dependencies: ["CProtobufC"],
            swiftSettings: swiftSettings
        ),

        // Code generator: library, protoc plugin executable, build-tool plugin.
        .target(
            name: "NKudoCodeGen",
            dependencies: ["NKudoWire"],
            path: "codegen/Sources/NKudoCodeGen",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "protoc-gen-nkudo",
            dependencies: ["NKudoCodeGen"],
            path: "codegen/Sources/protoc-gen-nkudo",
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "NKudoContractPlugin",
            capability: .buildTool(),
            dependencies: ["protoc-gen-nkudo"],
            path: "codegen/Plugins/NKudoContractPlugin"
        ),

        // The contract: everything in it is generated from proto/ at build time.
        .target(
            name: "NKudoContract",
            dependencies: ["NKudoWire"],
            swiftSettings: swiftSettings,
            plugins: ["NKudoContractPlugin"]
        ),

        // Executables.
        .executableTarget(
            name: "nkudo-control-plane",
            dependencies: [
                "NKudoContract",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "nkudo-edge",
            dependencies: [
                "NKudoContract",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // Tests.
        .testTarget(
            name: "NKudoWireTests",
            dependencies: ["NKudoWire"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NKudoCodeGenTests",
            dependencies: ["NKudoCodeGen", "NKudoWire"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ContractTests",
            dependencies: ["NKudoContract", "NKudoWire"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
