import HTTPTypes

/// The console's pages, by path under `/ui` (method aside). Ids are taken as they come:
/// the services check them, and a malformed id is simply not found.
enum ConsoleRoute: Equatable {
    case home
    case staticFile(String)
    case signIn
    case signOut
    case site(String)
    case sitePlans(String)
    case vm(site: String, vm: String)
    case plan(String)
    case audit
    case admin
    case unknown

    /// The methods the page takes (`HEAD` too wherever `GET`); none for an unknown path.
    var methods: [HTTPRequest.Method] {
        switch self {
        case .signIn, .sitePlans: [.get, .post]
        case .signOut: [.post]
        case .home, .staticFile, .site, .vm, .plan, .audit, .admin: [.get]
        case .unknown: []
        }
    }

    /// The route of a path's segments after `/ui`.
    init(_ parts: [String]) {
        switch parts.count {
        case 0:
            self = .home
        case 1:
            self = switch parts[0] {
            case "sign-in": .signIn
            case "sign-out": .signOut
            case "audit": .audit
            case "admin": .admin
            default: .unknown
            }
        case 2:
            self = switch parts[0] {
            case "static": .staticFile(parts[1])
            case "sites": .site(parts[1])
            case "plans": .plan(parts[1])
            default: .unknown
            }
        case 3 where parts[0] == "sites" && parts[2] == "plans":
            self = .sitePlans(parts[1])
        case 4 where parts[0] == "sites" && parts[2] == "vms":
            self = .vm(site: parts[1], vm: parts[3])
        default:
            self = .unknown
        }
    }
}
