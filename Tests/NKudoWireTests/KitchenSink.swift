@testable import NKudoWire

/// A message with every field kind, used through its dynamic form (the codecs need
/// nothing else). Mirrors `Fixtures/kitchen_sink.proto`.
struct KitchenSink: ProtoMessage {
    var fields: ProtoFields

    init(fields: ProtoFields) { self.fields = fields }
    init(protoFields: ProtoFields) throws(WireError) { self.fields = protoFields }
    var protoFields: ProtoFields { fields }

    static let color = EnumSchema(fullName: "nkudo.test.KitchenSink.Color", values: [("COLOR_UNSPECIFIED", 0), ("RED", 1), ("GREEN", 2)])

    static let protoMessageSchema: MessageSchema = {
        func field(_ number: Int32, _ name: String, _ type: FieldType, _ cardinality: Cardinality = .implicit, oneof: Int? = nil) -> FieldSchema {
            let camel = name.split(separator: "_").enumerated().map { $0 == 0 ? String($1) : $1.prefix(1).uppercased() + $1.dropFirst() }.joined()
            return FieldSchema(number: number, name: name, jsonName: camel, type: type, cardinality: cardinality, oneofIndex: oneof)
        }
        return MessageSchema(fullName: "nkudo.test.KitchenSink", fields: [
            field(1, "f_int32", .int32), field(2, "f_int64", .int64), field(3, "f_uint32", .uint32),
            field(4, "f_uint64", .uint64), field(5, "f_sint32", .sint32), field(6, "f_sint64", .sint64),
            field(7, "f_fixed32", .fixed32), field(8, "f_fixed64", .fixed64), field(9, "f_sfixed32", .sfixed32),
            field(10, "f_sfixed64", .sfixed64), field(11, "f_float", .float), field(12, "f_double", .double),
            field(13, "f_bool", .bool), field(14, "f_string", .string), field(15, "f_bytes", .bytes),
            field(16, "f_enum", .enumeration(color)),
            field(17, "o_int64", .int64, .explicit), field(18, "o_string", .string, .explicit), field(19, "o_bool", .bool, .explicit),
            field(20, "r_int32", .int32, .repeated(packed: true)), field(21, "r_sint64", .sint64, .repeated(packed: true)),
            field(22, "r_double", .double, .repeated(packed: true)), field(23, "r_string", .string, .repeated(packed: false)),
            field(24, "r_bytes", .bytes, .repeated(packed: false)), field(25, "r_enum", .enumeration(color), .repeated(packed: true)),
            field(26, "m_string", .string, .map(key: .string)), field(27, "m_int", .int64, .map(key: .int32)),
            field(28, "child", .message(KitchenSink.self)), field(29, "children", .message(KitchenSink.self), .repeated(packed: false)),
            field(30, "f_timestamp", .message(ProtoTimestamp.self)),
            field(31, "c_string", .string, .explicit, oneof: 0), field(32, "c_int32", .int32, .explicit, oneof: 0),
            field(33, "c_message", .message(KitchenSink.self), .explicit, oneof: 0),
            field(34, "r_fixed32", .fixed32, .repeated(packed: true)),
        ], oneofs: ["choice"])
    }()
}

/// Random kitchen-sink messages: extremes of every integer type, unicode, nesting.
struct RandomMessages {
    var generator: any RandomNumberGenerator

    init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &generator) < percent }

    mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &generator)] }

    mutating func int32() -> Int32 { chance(50) ? pick([0, 1, -1, .min, .max, 127, 128, -129]) : .random(in: .min ... .max, using: &generator) }
    mutating func int64() -> Int64 { chance(50) ? pick([0, 1, -1, .min, .max, 1 << 53, -(1 << 53) - 1]) : .random(in: .min ... .max, using: &generator) }
    mutating func uint32() -> UInt32 { chance(50) ? pick([0, 1, .max, 1 << 31]) : .random(in: .min ... .max, using: &generator) }
    mutating func uint64() -> UInt64 { chance(50) ? pick([0, 1, .max, 1 << 63]) : .random(in: .min ... .max, using: &generator) }
    mutating func double() -> Double { chance(30) ? pick([0, -1.5, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 1e-300, 123456.789]) : .random(in: -1e12...1e12, using: &generator) }
    mutating func float() -> Float { chance(30) ? pick([0, -1.5, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 3.25]) : .random(in: -1e6...1e6, using: &generator) }

    mutating func string() -> String {
        let alphabet: [String] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\t", "\u{1}", "/", "ü", "é", "日本", "🚀", "\u{10FFFF}", "<", "&"]
        return (0..<Int.random(in: 0..<12, using: &generator)).map { _ in pick(alphabet) }.joined()
    }

    mutating func bytes() -> [UInt8] {
        (0..<Int.random(in: 0..<16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    mutating func timestamp() -> ProtoTimestamp {
        ProtoTimestamp(seconds: .random(in: ProtoTimestamp.minSeconds...ProtoTimestamp.maxSeconds, using: &generator),
                       nanos: pick([0, 1_000_000, 123_000, 999_999_999, .random(in: 0..<1_000_000_000, using: &generator)]))
    }

    mutating func message(depth: Int = 0) -> KitchenSink {
        var f = ProtoFields(schema: KitchenSink.protoMessageSchema)
        f[0] = .int32(int32()); f[1] = .int64(int64()); f[2] = .uint32(uint32()); f[3] = .uint64(uint64())
        f[4] = .int32(int32()); f[5] = .int64(int64()); f[6] = .uint32(uint32()); f[7] = .uint64(uint64())
        f[8] = .int32(int32()); f[9] = .int64(int64()); f[10] = .float(float()); f[11] = .double(double())
        f[12] = .bool(chance(50)); f[13] = .string(string()); f[14] = .bytes(bytes())
        f[15] = .enumeration(pick([0, 1, 2, 7]))
        if chance(60) { f[16] = .int64(int64()) }
        if chance(60) { f[17] = .string(string()) }
        if chance(60) { f[18] = .bool(chance(50)) }
        f[19] = .list((0..<Int.random(in: 0..<4, using: &generator)).map { _ in .int32(int32()) })
        f[20] = .list((0..<Int.random(in: 0..<4, using: &generator)).map { _ in .int64(int64()) })
        f[21] = .list((0..<Int.random(in: 0..<3, using: &generator)).map { _ in .double(double()) })
        f[22] = .list((0..<Int.random(in: 0..<3, using: &generator)).map { _ in .string(string()) })
        f[23] = .list((0..<Int.random(in: 0..<3, using: &generator)).map { _ in .bytes(bytes()) })
        f[24] = .list((0..<Int.random(in: 0..<3, using: &generator)).map { _ in .enumeration(pick([0, 1, 2, 9])) })
        var stringMap: [String: String] = [:]
        for _ in 0..<Int.random(in: 0..<3, using: &generator) { stringMap[string()] = string() }
        f[25] = .map(stringMap.sorted { $0.key < $1.key }.map { .init(key: .string($0.key), value: .string($0.value)) })
        var intMap: [Int32: Int64] = [:]
        for _ in 0..<Int.random(in: 0..<3, using: &generator) { intMap[int32()] = int64() }
        f[26] = .map(intMap.sorted { $0.key < $1.key }.map { .init(key: .int32($0.key), value: .int64($0.value)) })
        if depth < 2, chance(40) { f[27] = .message(message(depth: depth + 1).fields) }
        f[28] = .list(depth < 2 ? (0..<Int.random(in: 0..<2, using: &generator)).map { _ in .message(message(depth: depth + 1).fields) } : [])
        if chance(70) { f[29] = .message(timestamp().protoFields) }
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: f[30] = .string(string())
        case 1: f[31] = .int32(int32())
        case 2 where depth < 2: f[32] = .message(message(depth: depth + 1).fields)
        default: break
        }
        f[33] = .list((0..<Int.random(in: 0..<3, using: &generator)).map { _ in .uint32(uint32()) })
        return KitchenSink(fields: f)
    }
}

/// A small deterministic generator, so a failing case can be replayed by its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
