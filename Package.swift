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
        .executable(name: "nkudo", targets: ["nkudo"]),
        // For the separate Benchmarks/ and Fuzz/ packages.
        .library(name: "NKudoWire", targets: ["NKudoWire"]),
        .library(name: "NKudoContract", targets: ["NKudoContract"]),
        .library(name: "NKudoEdge", targets: ["NKudoEdge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
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
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // glibc's malloc.h (mallopt), part of the C library.
        .systemLibrary(name: "CMalloc"),

        // The wire runtime of the generated contract: binary through libprotobuf-c, proto3 JSON.
        .target(
            name: "NKudoWire",
            dependencies: ["CProtobufC"],
            swiftSettings: swiftSettings
        ),

        // gzip over zlib, for the compression the Connect and gRPC protocols negotiate.
        .target(
            name: "NKudoGzip",
            dependencies: ["CZlib"],
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

        // PKI over OpenSSL libcrypto: keys, CSRs, CA, issuing and parsing certificates.
        .target(
            name: "NKudoPKI",
            dependencies: ["COpenSSL"],
            swiftSettings: swiftSettings
        ),

        // The SQL layer: database and connection protocols, the SQLite driver, the connection
        // pool, the blocking executor, the migration runner. The control plane's store and
        // the agent's state both stand on it.
        .target(
            name: "NKudoSQL",
            dependencies: [
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL driver (libpq), of the control plane only.
        .target(
            name: "NKudoStorePostgres",
            dependencies: [
                "CLibPQ",
                "NKudoSQL",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The control plane's store: one Store over either database, migrations from
        // Migrations/ embedded at build time.
        .target(
            name: "NKudoStore",
            dependencies: [
                "NKudoSQL",
                "NKudoContract",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["NKudoMigrationsPlugin"]
        ),
        .executableTarget(
            name: "nkudo-embed-migrations",
            path: "codegen/Sources/nkudo-embed-migrations",
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "NKudoMigrationsPlugin",
            capability: .buildTool(),
            dependencies: ["nkudo-embed-migrations"],
            path: "codegen/Plugins/NKudoMigrationsPlugin"
        ),

        // The control plane: Hummingbird app serving the contract's route tables.
        .target(
            name: "NKudoControlPlane",
            dependencies: [
                "CMalloc",
                "NKudoContract",
                "NKudoGzip",
                "NKudoPKI",
                "NKudoSQL",
                "NKudoStore",
                "NKudoStorePostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Trust on first use: the control plane's CA found by fingerprint in the chain it
        // presents (the agent's enroll and the CLI's login).
        .target(
            name: "NKudoTrust",
            dependencies: [
                "NKudoPKI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),

        // The generated clients over gRPC (grpc-swift 2, messages coded by NKudoWire): the
        // agent's and the load generator's third transport. Not a dependency of the control
        // plane, which serves gRPC itself.
        .target(
            name: "NKudoGRPCClient",
            dependencies: [
                "NKudoWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: swiftSettings
        ),

        // The edge agent: enrollment, mTLS client, state, executor, Cloud Hypervisor, host facts, NetBird.
        .target(
            name: "NKudoEdge",
            dependencies: [
                "NKudoContract",
                "NKudoPKI",
                "NKudoTrust",
                "NKudoSQL",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["NKudoMigrationsPlugin"]
        ),

        // The agent's gRPC transport (NKudoGRPCClient), kept out of NKudoEdge's build graph:
        // grpc-swift's zlib C module makes clang attribute libc's `struct stat` to whichever
        // module it loads first, which breaks MemberImportVisibility in the files that stat().
        .target(
            name: "NKudoEdgeGRPC",
            dependencies: ["NKudoContract", "NKudoEdge", "NKudoGRPCClient"],
            swiftSettings: swiftSettings
        ),

        // Test doubles for what cannot run here; production code drives them as the real thing.
        .executableTarget(
            name: "fake-cloud-hypervisor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fake-netbird",
            swiftSettings: swiftSettings
        ),

        // Executables.
        .executableTarget(
            name: "nkudo-control-plane",
            dependencies: [
                "NKudoContract",
                "NKudoControlPlane",
                "NKudoSQL",
                "NKudoStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "nkudo-edge",
            dependencies: [
                "NKudoContract",
                "NKudoEdge",
                "NKudoEdgeGRPC",
                "NKudoTrust",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The library of the operators' CLI: the transport (REST bindings over
        // AsyncHTTPClient, the CA pinned by fingerprint), the config file, the output formats.
        .target(
            name: "NKudoClient",
            dependencies: [
                "NKudoContract",
                "NKudoPKI",
                "NKudoTrust",
                "NKudoWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The operators' CLI: one file per command group, on the generated clients only.
        .executableTarget(
            name: "nkudo",
            dependencies: [
                "NKudoClient",
                "NKudoContract",
                "NKudoWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // Fleet load generator: simulated agents against a running control plane (README, Performance).
        .executableTarget(
            name: "nkudo-loadgen",
            dependencies: [
                "NKudoContract",
                "NKudoGRPCClient",
                "NKudoPKI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),

        // Tests.
        .testTarget(
            name: "NKudoWireTests",
            dependencies: ["NKudoWire", "ProtocTestSupport"],
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
            name: "NKudoPKITests",
            dependencies: ["NKudoPKI"],
            swiftSettings: swiftSettings
        ),
        // Debian's protoc as the independent oracle of the wire and contract tests.
        .target(
            name: "ProtocTestSupport",
            path: "Tests/ProtocTestSupport",
            swiftSettings: swiftSettings
        ),
        // Storage for the SQL and store tests: a SQLite file or a PostgreSQL schema of each test's own.
        .target(
            name: "SQLTestSupport",
            dependencies: [
                "NKudoSQL",
                "NKudoStorePostgres",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SQLTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NKudoSQLTests",
            dependencies: ["NKudoSQL", "NKudoStorePostgres", "SQLTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NKudoStoreTests",
            dependencies: ["NKudoStore", "NKudoSQL", "NKudoContract", "SQLTestSupport"],
            swiftSettings: swiftSettings
        ),
        // A real control plane for the tests that talk to one over HTTPS: the harness (TLS
        // listener, data directory, SQLite or a PostgreSQL schema of its own), a fleet made
        // through the API, the generated clients over AsyncHTTPClient.
        .target(
            name: "ControlPlaneTestSupport",
            dependencies: [
                "NKudoControlPlane",
                "NKudoContract",
                "NKudoPKI",
                "NKudoSQL",
                "NKudoStore",
                "NKudoStorePostgres",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/ControlPlaneTestSupport",
            swiftSettings: swiftSettings
        ),
        // The control plane alone: routes in process (HummingbirdTesting), flows, security
        // and safety over HTTPS against the harness. No edge agent.
        .testTarget(
            name: "NKudoControlPlaneTests",
            dependencies: [
                "ControlPlaneTestSupport",
                "NKudoGzip",
                "NKudoControlPlane",
                "NKudoContract",
                "NKudoPKI",
                "NKudoSQL",
                "NKudoStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Both sides: the edge agent (library and the nkudo-edge binary, driving the fake
        // VMM) against a real control plane.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "ControlPlaneTestSupport",
                "NKudoControlPlane",
                "NKudoEdge",
                "NKudoEdgeGRPC",
                "NKudoContract",
                "NKudoPKI",
                "NKudoStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NKudoEdgeTests",
            dependencies: [
                "NKudoEdge",
                "NKudoContract",
                "NKudoPKI",
                "NKudoWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        // The CLI's library without a server: config file, output formats, query encoding.
        .testTarget(
            name: "NKudoClientTests",
            dependencies: ["NKudoClient", "NKudoContract", "NKudoWire"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ContractTests",
            dependencies: ["NKudoContract", "NKudoWire", "ProtocTestSupport"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
