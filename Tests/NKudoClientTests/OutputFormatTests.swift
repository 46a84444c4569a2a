import Foundation
@testable import NKudoClient
import NKudoContract
import NKudoWire
import Testing

@Suite("nkudo output formats")
struct OutputFormatTests {
    @Test("-o json keeps the generated JSON's members in order, indented; -o yaml renders the same document")
    func jsonAndYAML() throws {
        let site = Site(id: "s-1", tenantId: "t", name: "zrh: 1", externalKey: "true", connectivityState: .online,
                        createdAt: ProtoTimestamp(seconds: 1_700_000_000))
        let response = ListSitesResponse(sites: [site, Site(id: "s-2", name: "plain")])
        let document = try JSONDocument(parsing: try response.jsonBytes())
        let pretty = document.prettyJSON()
        #expect(try ListSitesResponse(jsonString: pretty) == ListSitesResponse(jsonString: try response.jsonString()))
        #expect(pretty.contains("\n  \"sites\": [\n    {\n      \"id\": \"s-1\",\n      \"tenant_id\": \"t\""), "\(pretty)")
        let yaml = document.yaml()
        #expect(yaml.hasPrefix("sites:\n- id: s-1\n  tenant_id: t\n  name: \"zrh: 1\"\n  external_key: \"true\"\n"), "\(yaml)")
        #expect(yaml.contains("  connectivity_state: ONLINE\n"))
        #expect(yaml.contains("  created_at: \"2023-11-14T22:13:20Z\"\n"), "\(yaml)")
        #expect(yaml.contains("- id: s-2\n"))
        #expect(try JSONDocument(parsing: Array("{}".utf8)).yaml() == "{}\n")
        #expect(try JSONDocument(parsing: Array(#"{"a":[],"b":{},"c":"x\ny","d":["1",2,null]}"#.utf8)).yaml()
                == "a: []\nb: {}\nc: \"x\\ny\"\nd:\n- \"1\"\n- 2\n- null\n")
    }

    @Test("tables align columns, show - for empty cells, and hide wide columns unless asked")
    func table() {
        var table = Table([.init("id"), .init("name"), .init("extra", wideOnly: true)])
        table.append(["1", "web", "x"])
        table.append(["1234", "", "y"])
        #expect(table.render(wide: false) == "ID    NAME\n1     web\n1234  -\n")
        #expect(table.render(wide: true) == "ID    NAME  EXTRA\n1     web   x\n1234  -     y\n")
    }

    @Test("human durations, times and sizes")
    func human() {
        #expect(HumanFormat.duration(42) == "42s")
        #expect(HumanFormat.duration(185) == "3m5s")
        #expect(HumanFormat.duration(1800) == "30m")
        #expect(HumanFormat.duration(7500) == "2h5m")
        #expect(HumanFormat.duration(90_000) == "1d1h")
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(HumanFormat.relative(ProtoTimestamp(seconds: 1_700_000_000 - 180), now: now) == "3m ago")
        #expect(HumanFormat.relative(ProtoTimestamp(seconds: 1_700_000_000 + 900), now: now) == "in 15m")
        #expect(HumanFormat.relative(nil) == "")
        #expect(HumanFormat.bytes(512) == "512 B")
        #expect(HumanFormat.bytes(1536) == "1.5 KiB")
        #expect(HumanFormat.bytes(8_157_945_856) == "7.6 GiB")
        #expect(HumanFormat.mebibytes(256) == "256 MiB")
        #expect(HumanFormat.mebibytes(2048) == "2.0 GiB")
        // A VM stored with more MiB than a byte count holds: rendered, not a trap (`vm list` crashed on it).
        #expect(HumanFormat.mebibytes(1_024_000_000_000_000) == "931 EiB")
        #expect(HumanFormat.mebibytes(.max) == "8388608 EiB")
        #expect(HumanFormat.bytes(.min).hasSuffix("EiB") && HumanFormat.mebibytes(.min).hasSuffix("EiB"))
        #expect(HumanFormat.parseDuration("500ms") == .milliseconds(500))
        // Durations past 100 years are refused (they trapped converting to milliseconds).
        for huge in ["1e20s", "9223372036854775807s", "1e13h", "36525d1", "101y"] {
            #expect(HumanFormat.parseDuration(huge) == nil, "\(huge)")
        }
        #expect(HumanFormat.parseDuration("36500d") == .seconds(36500 * 86_400))
        #expect(HumanFormat.parseDuration("2h") == .seconds(7200))
        #expect(HumanFormat.parseDuration("30") == .seconds(30))
        #expect(HumanFormat.parseDuration("soon") == nil)
        #expect(HumanFormat.parseMebibytes("512") == 512)
        #expect(HumanFormat.parseMebibytes("1GiB") == 1024)
        #expect(HumanFormat.parseMebibytes("1.5G") == 1536)
        #expect(HumanFormat.parseMebibytes("256MiB") == 256)
        #expect(HumanFormat.parseMebibytes("lots") == nil)
        #expect(HumanFormat.parseMebibytes("-1") == nil)
    }

    @Test("GET query from the request's fields: set scalars only, percent-encoded")
    func query() {
        let request = ListExecutionLogsRequest(executionId: "e", limit: 20, cursor: "a b&c=d/é")
        var fields = request.protoFields
        fields[0] = nil
        #expect(HTTPBinding.query(fields) == "limit=20&cursor=a%20b%26c%3Dd%2F%C3%A9")
        #expect(HTTPBinding.query(ListExecutionLogsRequest().protoFields) == "")
    }

    @Test("a binding's request: path parameters percent-encoded, the rest as query or body; a missing one is an error")
    func bindingRequest() throws {
        let logs = try TenantService.Method.listExecutionLogs.bindings[0].request(ListExecutionLogsRequest(executionId: "a/b c", limit: 5).protoFields)
        #expect(logs.target == "/executions/a%2Fb%20c/logs?limit=5")
        // What the agent's long poll sends over REST (the agent's REST transport used to drop the query).
        let next = try AgentService.Method.nextPlans.bindings[0].request(NextPlansRequest(wait: "30000ms").protoFields)
        #expect(next.target == "/v1/plans/next?wait=30000ms")
        #expect(throws: MissingPathParameter.self) {
            _ = try TenantService.Method.listExecutionLogs.bindings[0].request(ListExecutionLogsRequest(limit: 5).protoFields)
        }
    }

    @Test("fingerprints: sha256: prefix, colons and case are accepted; anything else is a usage error")
    func fingerprints() throws {
        let hex = String(repeating: "ab", count: 32)
        #expect(try ServerCAProbe.normalizedFingerprint("sha256:" + hex.uppercased()) == hex)
        let colons = stride(from: 0, to: 64, by: 2).map { String(Array(hex)[$0..<$0 + 2]) }.joined(separator: ":")
        #expect(try ServerCAProbe.normalizedFingerprint(colons) == hex)
        let error = try #require(throws: ClientError.self) { try ServerCAProbe.normalizedFingerprint("abc") }
        #expect(error.kind.exitCode == 2)
        #expect(throws: ClientError.self) { try ServerCAProbe.hostAndPort("http://x:1") }
        #expect(try ServerCAProbe.hostAndPort("https://cp:8443").port == 8443)
    }

    @Test("errors are one line with the status, code and request id; exit statuses by kind")
    func errors() {
        let error = ClientError(ClientError.kind(forStatus: 404), "site not\nfound", status: 404, code: "not_found", requestID: "r-1")
        #expect(error.description == "site not found (HTTP 404 not_found, request r-1)")
        #expect(error.kind.exitCode == 5)
        #expect(ClientError.kind(forStatus: 401).exitCode == 4)
        #expect(ClientError.kind(forStatus: 403).exitCode == 4)
        #expect(ClientError.kind(forStatus: 409).exitCode == 1)
        #expect(ClientError(.connection, "down").description == "down")
    }
}
