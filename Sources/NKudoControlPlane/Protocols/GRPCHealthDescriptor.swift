/// `grpc/health/v1/health.proto` as a serialized `google.protobuf.FileDescriptorProto`, for
/// server reflection: with it, reflection clients (`grpcurl`, `buf curl --reflect`) list
/// and call `grpc.health.v1.Health` like the contract's services. The messages are those
/// ``GRPCHealthService`` answers with (`HealthCheckRequest`, `HealthCheckResponse`);
/// `Watch` is declared as in the standard file and answered UNIMPLEMENTED.
enum GRPCHealthDescriptor {
    /// The file's name, as the standard file is imported.
    static let fileName = "grpc/health/v1/health.proto"

    /// The serialized `FileDescriptorProto`.
    static let file: [UInt8] = {
        let package = "grpc.health.v1"
        let status = ".\(package).HealthCheckResponse.ServingStatus"
        let request = message("HealthCheckRequest", fields: [field("service", type: 9)])
        let response = message("HealthCheckResponse", fields: [field("status", type: 14, typeName: status)],
                               enums: [enumeration("ServingStatus", ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"])])
        let service = text(1, "Health")
            + bytes(2, method("Check", ".\(package).HealthCheckRequest", ".\(package).HealthCheckResponse", streaming: false))
            + bytes(2, method("Watch", ".\(package).HealthCheckRequest", ".\(package).HealthCheckResponse", streaming: true))
        return text(1, fileName) + text(2, package) + bytes(4, request) + bytes(4, response) + bytes(6, service) + text(12, "proto3")
    }()

    /// `DescriptorProto`: name (1), fields (2), nested enums (4).
    private static func message(_ name: String, fields: [[UInt8]], enums: [[UInt8]] = []) -> [UInt8] {
        text(1, name) + fields.flatMap { bytes(2, $0) } + enums.flatMap { bytes(4, $0) }
    }

    /// `FieldDescriptorProto` of field number 1, optional: name (1), number (3), label (4),
    /// type (5), type name (6), JSON name (10).
    private static func field(_ name: String, type: UInt64, typeName: String? = nil) -> [UInt8] {
        text(1, name) + number(3, 1) + number(4, 1) + number(5, type) + (typeName.map { text(6, $0) } ?? []) + text(10, name)
    }

    /// `EnumDescriptorProto` with values numbered from 0: name (1), values (2: name 1, number 2).
    private static func enumeration(_ name: String, _ values: [String]) -> [UInt8] {
        text(1, name) + values.enumerated().flatMap { bytes(2, text(1, $0.element) + number(2, UInt64($0.offset))) }
    }

    /// `MethodDescriptorProto`: name (1), input (2) and output (3) types, server streaming (6).
    private static func method(_ name: String, _ input: String, _ output: String, streaming: Bool) -> [UInt8] {
        text(1, name) + text(2, input) + text(3, output) + (streaming ? number(6, 1) : [])
    }

    private static func text(_ field: UInt64, _ value: String) -> [UInt8] { bytes(field, Array(value.utf8)) }

    private static func bytes(_ field: UInt64, _ value: [UInt8]) -> [UInt8] {
        varint(field << 3 | 2) + varint(UInt64(value.count)) + value
    }

    private static func number(_ field: UInt64, _ value: UInt64) -> [UInt8] { varint(field << 3) + varint(value) }

    private static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        return out + [UInt8(value)]
    }
}
