import NKudoContract

/// The heartbeat through NKudoWire (the root package's runtime).
struct NKudoWireCases {
    static let codec = "nkudo-wire"
    static let decodingOptions = JSONDecodingOptions(ignoreUnknownFields: true)

    let message: HeartbeatRequest
    let binary: [UInt8]
    let json: [UInt8]

    init(_ message: HeartbeatRequest) throws {
        self.message = message
        binary = try message.serializedBytes()
        json = try message.jsonBytes()
    }

    /// Round trips of its own encodings give back the message.
    func roundTrips() throws -> (binary: Bool, json: Bool) {
        (try HeartbeatRequest(serializedBytes: binary) == message,
         try HeartbeatRequest(jsonBytes: json, options: Self.decodingOptions) == message)
    }

    /// Decodes another codec's JSON and compares it with the fixture.
    func decodesToSameMessage(json other: [UInt8]) throws -> Bool {
        try HeartbeatRequest(jsonBytes: other, options: Self.decodingOptions) == message
    }

    func cases() -> [BenchCase] {
        let message = self.message, binary = self.binary, json = self.json
        let fields = message.protoFields
        let options = Self.decodingOptions
        return [
            BenchCase(codec: Self.codec, operation: "binary encode", bytes: binary.count) {
                blackHole(try message.serializedBytes())
            },
            BenchCase(codec: Self.codec, operation: "binary decode", bytes: binary.count) {
                blackHole(try HeartbeatRequest(serializedBytes: binary))
            },
            BenchCase(codec: Self.codec, operation: "json encode", bytes: json.count) {
                blackHole(try message.jsonBytes())
            },
            BenchCase(codec: Self.codec, operation: "json decode", bytes: json.count) {
                blackHole(try HeartbeatRequest(jsonBytes: json, options: options))
            },
            // The two halves of every NKudoWire op that are not codec work: the
            // conversion between the generated struct and the dynamic ProtoFields form.
            BenchCase(codec: Self.codec + " (stage)", operation: "struct -> ProtoFields", bytes: nil) {
                blackHole(message.protoFields)
            },
            BenchCase(codec: Self.codec + " (stage)", operation: "ProtoFields -> struct", bytes: nil) {
                blackHole(try HeartbeatRequest(protoFields: fields))
            },
        ]
    }
}
