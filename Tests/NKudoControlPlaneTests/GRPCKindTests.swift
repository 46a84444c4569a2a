import NKudoWire
import Testing

@testable import NKudoControlPlane

/// Which gRPC flavour a `Content-Type` names (read byte by byte, like `WireFormat`).
@Suite("gRPC content types")
struct GRPCKindTests {
    @Test("gRPC and gRPC-Web with their codecs, in any case, with blanks and parameters", arguments: [
        ("application/grpc", false, WireFormat?.some(.binary)),
        ("application/grpc+proto", false, .binary),
        ("Application/GRPC+Proto; charset=utf-8", false, .binary),
        (" \tapplication/grpc+json ", false, .json),
        ("application/grpc-web", true, .binary),
        ("application/grpc-web+proto", true, .binary),
        ("APPLICATION/GRPC-WEB+JSON;x=y", true, .json),
        ("application/grpc+thrift", false, nil),
        ("application/grpc-web-text", true, nil),
        ("application/grpc-web-text+proto", true, nil),
        ("application/grpc-foo", false, nil),
    ])
    func kinds(contentType: String, web: Bool, format: WireFormat?) throws {
        let kind = try #require(GRPCKind(contentType: contentType))
        #expect(kind.web == web)
        #expect(kind.format == format)
    }

    @Test("other content types are REST or Connect", arguments: [
        "application/json", "application/proto", "", ";application/grpc", "application/grpcx", "application/grpc-webx",
        "application/grp", "application /grpc", "application/gRPC\u{212A}", "text/grpc", "application/grpcweb",
    ])
    func others(contentType: String) {
        #expect(GRPCKind(contentType: contentType) == nil)
    }

    @Test("no Content-Type is not gRPC")
    func missing() {
        #expect(GRPCKind(contentType: nil) == nil)
    }
}
