import Testing
@testable import NKudoWire

/// proto3 JSON specifics: canonical output, lenient input, strict/lenient unknown
/// fields, and errors that name the JSON path.
@Suite("proto3 JSON")
struct ProtoJSONTests {
    func decode(_ json: String, ignoreUnknown: Bool = false) throws(WireError) -> ProtoFields {
        try KitchenSink(jsonString: json, options: JSONDecodingOptions(ignoreUnknownFields: ignoreUnknown)).fields
    }

    func jsonError(_ json: String, ignoreUnknown: Bool = false) -> WireError? {
        do {
            _ = try decode(json, ignoreUnknown: ignoreUnknown)
            return nil
        } catch {
            return error
        }
    }

    @Test("output uses proto names, prints defaults of fields without presence, int64 as strings")
    func canonicalOutput() throws {
        var fields = ProtoFields(schema: KitchenSink.protoMessageSchema)
        fields[1] = .int64(-9_223_372_036_854_775_808)
        fields[3] = .uint64(18_446_744_073_709_551_615)
        fields[14] = .bytes([0xFB, 0xFF])
        fields[15] = .enumeration(2)
        fields[29] = .message(ProtoTimestamp(seconds: 1_770_379_201, nanos: 123_456_000).protoFields)
        let json = try KitchenSink(fields: fields).jsonString()
        #expect(json.contains("\"f_int64\":\"-9223372036854775808\""))
        #expect(json.contains("\"f_uint64\":\"18446744073709551615\""))
        #expect(json.contains("\"f_int32\":0"))
        #expect(json.contains("\"f_bool\":false"))
        #expect(json.contains("\"f_string\":\"\""))
        #expect(json.contains("\"r_int32\":[]"))
        #expect(json.contains("\"m_string\":{}"))
        #expect(json.contains("\"f_bytes\":\"+/8=\""))
        #expect(json.contains("\"f_enum\":\"GREEN\""))
        #expect(json.contains("\"f_timestamp\":\"2026-02-06T12:00:01.123456Z\""))
        #expect(!json.contains("o_int64"))
        #expect(!json.contains("\"child\""))
        #expect(!json.contains("c_string"))
    }

    @Test("integers of 19 and more digits: the limits read exactly, past them an error, never a trap", arguments: [
        (#"{"f_int64": 9223372036854775807}"#, ProtoValue?.some(.int64(.max))),
        (#"{"f_int64": "-9223372036854775808"}"#, .int64(.min)),
        (#"{"f_int64": 1000000000000000000}"#, .int64(1_000_000_000_000_000_000)),
        (#"{"f_int64": 9999999999999999999}"#, nil),
        (#"{"f_int64": "99999999999999999999999999"}"#, nil),
        (#"{"f_int64": -9999999999999999999}"#, nil),
        (#"{"f_int64": "-9223372036854775809"}"#, nil),
        (#"{"f_int64": -9223372036854775809}"#, nil),
        (#"{"f_uint64": 18446744073709551615}"#, .uint64(.max)),
        (#"{"f_uint64": "99999999999999999999"}"#, nil),
        (#"{"f_int32": 9999999999999999999}"#, nil),
        (#"{"f_int32": "-99999999999999999999"}"#, nil),
    ])
    func longIntegers(json: String, expected: ProtoValue?) throws {
        let field = json.contains("f_int64") ? 1 : json.contains("f_uint64") ? 3 : 0
        if let expected {
            #expect(try decode(json)[field] == expected)
        } else {
            #expect(jsonError(json) != nil, "\(json) is out of range")
        }
    }

    @Test("a NUL in a string map key is refused as in a string value: protobuf-c cannot carry it")
    func nulInMapKey() throws {
        #expect(jsonError(#"{"m_string": {"a\u0000b": "x"}}"#)?.code == .invalidString)
        #expect(jsonError(#"{"m_string": {"a": "x\u0000"}}"#)?.code == .invalidString)
        #expect(try decode(#"{"m_string": {"a": "x"}}"#)[25] != nil)
    }

    @Test("unknown enum numbers survive and print as numbers")
    func unknownEnumNumber() throws {
        let fields = try decode(#"{"f_enum": 42}"#)
        #expect(fields[15] == .enumeration(42))
        #expect(try KitchenSink(fields: fields).jsonString().contains("\"f_enum\":42"))
    }

    @Test("both spellings, numbers as strings, null as default")
    func lenientInput() throws {
        let fields = try decode(#"{"fInt32": "12", "f_int64": 7, "oString": null, "f_uint64": "1e3", "f_double": "NaN", "fEnum": "RED", "f_float": 1.5}"#)
        #expect(fields[0] == .int32(12))
        #expect(fields[1] == .int64(7))
        #expect(fields[17] == nil)
        #expect(fields[3] == .uint64(1000))
        if case .double(let value)? = fields[11] { #expect(value.isNaN) } else { Issue.record("f_double not decoded") }
        #expect(fields[15] == .enumeration(1))
        #expect(fields[10] == .float(1.5))
    }

    @Test("timestamps: offsets, fractions, range")
    func timestamps() throws {
        let fields = try decode(#"{"f_timestamp": "2026-02-06T13:00:01.5+01:00"}"#)
        #expect(fields[29] == .message(ProtoTimestamp(seconds: 1_770_379_201, nanos: 500_000_000).protoFields))
        for bad in ["2026-02-06T12:00:01", "2026-02-30T00:00:00Z", "", "10000-01-01T00:00:00Z", "2026-02-06T12:00:01.1234567890Z"] {
            let error = try #require(jsonError(#"{"f_timestamp": "\#(bad)"}"#), "\(bad)")
            #expect(error.location == "$.f_timestamp")
        }
        #expect(try ProtoTimestamp(seconds: ProtoTimestamp.minSeconds).rfc3339() == "0001-01-01T00:00:00Z")
        #expect(try ProtoTimestamp(seconds: ProtoTimestamp.maxSeconds, nanos: 999_999_999).rfc3339() == "9999-12-31T23:59:59.999999999Z")
        #expect(throws: WireError.self) { try ProtoTimestamp(seconds: ProtoTimestamp.maxSeconds + 1).rfc3339() }
    }

    @Test("bytes accept standard and URL-safe base64, with or without padding")
    func base64Variants() throws {
        #expect(try decode(#"{"f_bytes": "-_8"}"#)[14] == .bytes([0xFB, 0xFF]))
        #expect(try decode(#"{"f_bytes": "+/8="}"#)[14] == .bytes([0xFB, 0xFF]))
        #expect(jsonError(#"{"f_bytes": "***"}"#)?.location == "$.f_bytes")
    }

    @Test("strict mode rejects unknown fields naming the path; lenient mode ignores them")
    func unknownFields() throws {
        let error = try #require(jsonError(#"{"child": {"f_int32": 1, "surprise": true}}"#))
        #expect(error.code == .unknownField)
        #expect(error.location == "$.child.surprise")
        let fields = try decode(#"{"child": {"f_int32": 1, "surprise": {"deep": [1]}}, "f_enum": "PURPLE"}"#, ignoreUnknown: true)
        #expect(fields[27] != nil)
        #expect(jsonError(#"{"f_enum": "PURPLE"}"#)?.location == "$.f_enum")
    }

    @Test("type errors name the JSON path", arguments: [
        (#"{"f_int32": "abc"}"#, "$.f_int32"),
        (#"{"f_int32": 1.5}"#, "$.f_int32"),
        (#"{"f_int32": 2147483648}"#, "$.f_int32"),
        (#"{"f_uint32": -1}"#, "$.f_uint32"),
        (#"{"f_bool": "true"}"#, "$.f_bool"),
        (#"{"f_string": 5}"#, "$.f_string"),
        (#"{"r_int32": [1, null]}"#, "$.r_int32[1]"),
        (#"{"children": [{}, {"f_int64": true}]}"#, "$.children[1].f_int64"),
        (#"{"m_int": {"x": "1"}}"#, "$.m_int.x"),
        (#"{"c_string": "a", "c_int32": 1}"#, "$.c_int32"),
        (#"{"f_string": "a\u0000b"}"#, "$.f_string"),
    ])
    func pathInErrors(json: String, path: String) throws {
        let error = try #require(jsonError(json))
        #expect(error.location == path, "\(error)")
    }

    @Test("malformed JSON documents", arguments: ["", "   ", "{", "[1]", "\"x\"", "{\"f_int32\": 1} x", "{\"a\" 1}", "{'a': 1}", "\u{FF}"])
    func malformed(json: String) throws {
        let error = try #require(jsonError(json))
        #expect(error.code == .malformedJSON || error.code == .tooDeep)
    }

    @Test("null document is the empty message")
    func nullDocument() throws {
        #expect(try decode("null") == ProtoFields(schema: KitchenSink.protoMessageSchema))
    }

    @Test("nesting deeper than the limit")
    func tooDeep() throws {
        let json = String(repeating: #"{"child":"#, count: 80) + "{}" + String(repeating: "}", count: 80)
        let error = try #require(jsonError(json))
        #expect(error.code == .tooDeep)
    }

    @Test("strings with escapes, surrogate pairs and unicode round trip")
    func stringEscapes() throws {
        let fields = try decode(#"{"f_string": "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude80ü"}"#)
        #expect(fields[13] == .string("\"\\/\u{8}\u{C}\n\r\té🚀ü"))
        let again = try KitchenSink(jsonBytes: KitchenSink(fields: fields).jsonBytes()).fields
        #expect(again[13] == fields[13])
        #expect(jsonError(#"{"f_string": "\ud83d"}"#) != nil)
    }
}

@Suite("Content negotiation")
struct WireFormatTests {
    @Test("content types we speak", arguments: [
        ("application/json", WireFormat.json), ("application/json; charset=utf-8", .json),
        ("application/x-protobuf", .binary), ("application/protobuf", .binary),
        ("application/proto", .binary), ("Application/JSON", .json),
        (" \tAPPLICATION/X-PROTOBUF \t;proto=nkudo.v1.HeartbeatRequest", .binary), ("application/json;", .json),
    ])
    func known(contentType: String, format: WireFormat) {
        #expect(WireFormat(contentType: contentType) == format)
    }

    @Test("content types we refuse", arguments: [
        "text/plain", "", "application/xml", "multipart/form-data", ";application/json", "application/json5",
        "application/jso", "application/json\u{212A}", "application /json", "*/*", "application/*",
    ])
    func unknown(contentType: String) {
        #expect(WireFormat(contentType: contentType) == nil)
    }

    @Test("Accept picks the first format we speak, else the request's")
    func accept() {
        #expect(WireFormat.preferred(accept: nil, fallback: .binary) == .binary)
        #expect(WireFormat.preferred(accept: "application/json", fallback: .binary) == .json)
        #expect(WireFormat.preferred(accept: "text/html, application/x-protobuf;q=0.9", fallback: .json) == .binary)
        #expect(WireFormat.preferred(accept: "*/*", fallback: .json) == .json)
        #expect(WireFormat.preferred(accept: "text/html", fallback: .json) == .json)
        #expect(WireFormat.preferred(accept: "", fallback: .binary) == .binary)
        #expect(WireFormat.preferred(accept: ",, text/html ,Application/Protobuf", fallback: .json) == .binary)
        #expect(WireFormat.preferred(accept: "text/html, application/*;q=0.5, application/json", fallback: .binary) == .binary)
        #expect(WireFormat.preferred(accept: "application/json;q=1,application/x-protobuf", fallback: .binary) == .json)
    }
}
