import NKudoSQL
/// A list of optional strings laid out as C strings in one buffer, for libpq's
/// `const char * const *` arguments (parameter values, connection keywords).
struct PostgresCStrings {
    private var storage: [CChar] = []
    private var offsets: [Int?] = []

    init(_ strings: [String?]) {
        for string in strings {
            guard let string else {
                offsets.append(nil)
                continue
            }
            offsets.append(storage.count)
            storage.append(contentsOf: string.utf8.map { CChar(bitPattern: $0) })
            storage.append(0)
        }
    }

    /// Lends the array of pointers (`nil` for a `nil` string), followed by a terminating
    /// `nil`, for the duration of `body`.
    func withPointers<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        storage.withUnsafeBufferPointer { buffer in
            var pointers: [UnsafePointer<CChar>?] = offsets.map { offset in
                offset.map { buffer.baseAddress! + $0 }
            }
            pointers.append(nil)
            return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
        }
    }
}
