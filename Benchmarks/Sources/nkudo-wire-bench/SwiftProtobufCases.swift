import NKudoSwiftProtobuf
import SwiftProtobuf

/// The same heartbeat through apple/swift-protobuf (code from protoc-gen-swift 1.39.0).
struct SwiftProtobufCases {
    static let codec = "swift-protobuf"

    /// Proto field names, like NKudoWire's canonical JSON (swift-protobuf still omits
    /// fields that hold their default, NKudoWire prints them).
    static var encodingOptions: JSONEncodingOptions {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return options
    }

    static var decodingOptions: JSONDecodingOptions {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        return options
    }

    let message: Nkudo_V1_HeartbeatRequest
    let binary: [UInt8]
    let json: [UInt8]

    /// Builds the message by decoding NKudoWire's binary encoding of the fixture.
    init(decoding nkudoBinary: [UInt8]) throws {
        message = try Nkudo_V1_HeartbeatRequest(serializedBytes: nkudoBinary)
        binary = try message.serializedBytes()
        json = try message.jsonUTF8Bytes(options: Self.encodingOptions)
    }

    var summary: (microVMs: Int, executionUpdates: Int, interfaces: Int) {
        (message.microvms.count, message.executionUpdates.count, message.hostFacts.interfaces.count)
    }

    func roundTrips() throws -> (binary: Bool, json: Bool) {
        (try Nkudo_V1_HeartbeatRequest(serializedBytes: binary) == message,
         try Nkudo_V1_HeartbeatRequest(jsonUTF8Bytes: json, options: Self.decodingOptions) == message)
    }

    func decodesToSameMessage(json other: [UInt8]) throws -> Bool {
        try Nkudo_V1_HeartbeatRequest(jsonUTF8Bytes: other, options: Self.decodingOptions) == message
    }

    func cases() -> [BenchCase] {
        let message = self.message, binary = self.binary, json = self.json
        let encodingOptions = Self.encodingOptions, decodingOptions = Self.decodingOptions
        return [
            BenchCase(codec: Self.codec, operation: "binary encode", bytes: binary.count) {
                let bytes: [UInt8] = try message.serializedBytes()
                blackHole(bytes)
            },
            BenchCase(codec: Self.codec, operation: "binary decode", bytes: binary.count) {
                blackHole(try Nkudo_V1_HeartbeatRequest(serializedBytes: binary))
            },
            BenchCase(codec: Self.codec, operation: "json encode", bytes: json.count) {
                let bytes: [UInt8] = try message.jsonUTF8Bytes(options: encodingOptions)
                blackHole(bytes)
            },
            BenchCase(codec: Self.codec, operation: "json decode", bytes: json.count) {
                blackHole(try Nkudo_V1_HeartbeatRequest(jsonUTF8Bytes: json, options: decodingOptions))
            },
        ]
    }
}
