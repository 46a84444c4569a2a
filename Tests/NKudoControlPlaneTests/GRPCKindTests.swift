import NKudoWire
import Testing

@testable import NKudoControlPlane

/// Which gRPC flavour a `Content-Type` names (read byte by byte, like `WireFormat`).
@Suite("gRPC content types")
struct GRPCKindTests {
    @Test("gRPC, gRPC-Web and its text mode with their codecs, in any case, with blanks and parameters", arguments: [
        ("application/grpc", false, false, WireFormat?.some(.binary)),
        ("application/grpc+proto", false, false, .binary),
        ("Application/GRPC+Proto; charset=utf-8", false, false, .binary),
        (" \tapplication/grpc+json ", false, false, .json),
        ("application/grpc-web", true, false, .binary),
        ("application/grpc-web+proto", true, false, .binary),
        ("APPLICATION/GRPC-WEB+JSON;x=y", true, false, .json),
        ("application/grpc+thrift", false, false, nil),
        ("application/grpc-web-text", true, true, .binary),
        ("application/grpc-web-text+proto", true, true, .binary),
        ("Application/gRPC-Web-Text+JSON", true, true, .json),
        ("application/grpc-web-text+thrift", true, true, nil),
        ("application/grpc-text", false, false, nil),
        ("application/grpc-foo", false, false, nil),
    ])
    func kinds(contentType: String, web: Bool, text: Bool, format: WireFormat?) throws {
        let kind = try #require(GRPCKind(contentType: contentType))
        #expect(kind.web == web)
        #expect(kind.text == text)
        #expect(kind.format == format)
    }

    @Test("the response's content type keeps the flavour and names the codec")
    func responseContentTypes() throws {
        #expect(try #require(GRPCKind(contentType: "application/grpc-web-text")).responseContentType == "application/grpc-web-text+proto")
        #expect(try #require(GRPCKind(contentType: "application/grpc-web+json")).responseContentType == "application/grpc-web+json")
        #expect(try #require(GRPCKind(contentType: "application/grpc")).responseContentType == "application/grpc+proto")
    }

    @Test("other content types are REST or Connect", arguments: [
        "application/json", "application/proto", "", ";application/grpc", "application/grpcx", "application/grpc-webx", "application/grpc-web-textual",
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
