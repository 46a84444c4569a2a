import Foundation
import NKudoContract

/// The Connect protocol's JSON error: `{"code", "message", "details"}`. The one detail is
/// our `nkudo.v1.Error` (with the request id), as Connect details are carried:
/// the message's full name and its binary encoding in unpadded base64.
enum ConnectError {
    /// The error's JSON body.
    static func body(_ error: APIError, requestID: String) -> [UInt8] {
        var object: [String: Any] = ["code": error.code, "message": error.message]
        let detail = ErrorMessage(error: error.message, code: error.code, requestId: requestID)
        if let bytes = try? detail.serializedBytes() {
            var value = Data(bytes).base64EncodedString()
            while value.hasSuffix("=") { value.removeLast() }
            object["details"] = [["type": ErrorMessage.protoMessageSchema.fullName, "value": value]]
        }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { Array($0) } ?? []
    }
}
