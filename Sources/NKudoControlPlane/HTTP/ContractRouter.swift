public import HTTPTypes
public import NKudoContract

/// The control plane's routing table, built only from the contract's generated route
/// tables: every RPC at each of its HTTP bindings and at its Connect path
/// `POST /<package>.<Service>/<Method>` (also `GET` for `NO_SIDE_EFFECTS` methods). Paths match segment by segment; `{name}`
/// segments bind one non-empty, percent-decoded segment.
public struct ContractRouter<Context: Sendable>: Sendable {
    /// One way to reach an RPC.
    public struct Endpoint: Sendable {
        public let route: RPCRoute<Context>
        /// nil for the Connect path.
        public let binding: HTTPBinding?
        public let method: HTTPRequest.Method
        let segments: [Segment]

        /// A printable name for logs and metrics: the template, e.g. `POST /sites/{site_id}/plans`.
        public var name: String {
            "\(method.rawValue) \(binding?.path ?? route.method.connectPath)"
        }
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    /// The outcome of matching a request.
    public enum Match: Sendable {
        case found(Endpoint, parameters: [String: String])
        /// The path exists with other methods.
        case methodNotAllowed(allowed: [HTTPRequest.Method])
        case notFound
    }

    private let endpoints: [Endpoint]
    /// Indices into `endpoints` by their number of segments, in registration order: only
    /// those can match a path (the linear scan of every endpoint was ~1 % of the control
    /// plane's CPU per heartbeat; README, Performance).
    private let bySegmentCount: [Int: [Int]]

    /// Registers every route of the given route tables.
    public init(routes: [RPCRoute<Context>]) {
        var endpoints: [Endpoint] = []
        for route in routes {
            for binding in route.method.bindings {
                endpoints.append(Endpoint(route: route, binding: binding, method: HTTPRequest.Method(binding.method) ?? .post,
                                          segments: Self.segments(of: binding.path)))
            }
            endpoints.append(Endpoint(route: route, binding: nil, method: .post, segments: Self.segments(of: route.method.connectPath)))
            if route.method.idempotency == .noSideEffects {
                endpoints.append(Endpoint(route: route, binding: nil, method: .get, segments: Self.segments(of: route.method.connectPath)))
            }
        }
        self.endpoints = endpoints
        self.bySegmentCount = Dictionary(grouping: endpoints.indices) { endpoints[$0].segments.count }
    }

    /// Every endpoint, in registration order.
    public var allEndpoints: [Endpoint] { endpoints }

    /// The endpoint for a method and path (the path without its query string).
    public func match(method: HTTPRequest.Method, path: String) -> Match {
        guard let requestSegments = Self.requestSegments(path) else { return .notFound }
        var allowed: [HTTPRequest.Method] = []
        for index in bySegmentCount[requestSegments.count] ?? [] {
            let endpoint = endpoints[index]
            guard let parameters = Self.bind(endpoint.segments, to: requestSegments) else { continue }
            if endpoint.method == method || (method == .head && endpoint.method == .get) {
                return .found(endpoint, parameters: parameters)
            }
            if !allowed.contains(endpoint.method) { allowed.append(endpoint.method) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    static func segments(of template: String) -> [Segment] {
        template.split(separator: "/", omittingEmptySubsequences: true).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}")
                ? .parameter(String(segment.dropFirst().dropLast()))
                : .literal(String(segment))
        }
    }

    /// Percent-decoded segments; nil for paths that are not canonical (`//`, `.`, `..`, bad escapes).
    static func requestSegments(_ path: String) -> [String]? {
        guard path.hasPrefix("/") else { return nil }
        var result: [String] = []
        let raw = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        if raw.count == 1 && raw[0].isEmpty { return [] }
        for segment in raw {
            guard !segment.isEmpty, segment != ".", segment != ".." else { return nil }
            guard segment.utf8.contains(UInt8(ascii: "%")) else {
                result.append(String(segment))
                continue
            }
            guard let decoded = String(segment).removingPercentEncoding else { return nil }
            result.append(decoded)
        }
        return result
    }

    private static func bind(_ template: [Segment], to segments: [String]) -> [String: String]? {
        guard template.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (part, segment) in zip(template, segments) {
            switch part {
            case .literal(let literal):
                guard literal == segment else { return nil }
            case .parameter(let name):
                parameters[name] = segment
            }
        }
        return parameters
    }
}

extension String {
    /// The string with `%XX` escapes decoded; nil when an escape is malformed or the
    /// result is not UTF-8.
    var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
