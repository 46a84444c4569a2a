// swift-tools-version: 6.2
// Benchmarks of n-kudo (wire format, agent state, connection memory), kept out of the root
// package so that its build stays lean. Run: `swift run -c release nkudo-wire-bench` (see
// README.md).
import PackageDescription

let package = Package(
    name: "n-kudo-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package; it must export `.library(name: "NKudoContract", ...)`. Named
        // explicitly so that the product reference does not depend on the checkout's
        // directory name (a path dependency's identity is its last path component).
        .package(name: "n-kudo", path: ".."),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // The same protos compiled by protoc-gen-swift 1.39.0 (generated once, committed;
        // see README.md for the command). No build plugin: swift-protobuf's plugin build
        // is slow.
        .target(
            name: "NKudoSwiftProtobuf",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // What one log line costs the agent as its outbox grows (issue 13).
        .executableTarget(
            name: "nkudo-state-bench",
            dependencies: [
                .product(name: "NKudoEdge", package: "n-kudo"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The floor of memory per connection: HTTP/1.1 on SwiftNIO and swift-nio-ssl alone,
        // and with Hummingbird's connection on top (issue 14; scripts/connection-memory).
        .executableTarget(
            name: "nkudo-connection-floor",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "nkudo-wire-bench",
            dependencies: [
                .product(name: "NKudoContract", package: "n-kudo"),
                "NKudoSwiftProtobuf",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ]
        ),
    ]
)
