import Foundation
import NKudoContract
import Testing
@testable import NKudoWire

/// The golden contract tests: every message of the contract against fixtures made by
/// implementations nobody here wrote (protoc for binary, Python protobuf for JSON).
@Suite("Golden contract fixtures")
struct GoldenFixtureTests {
    @Test("every message of the contract has a fixture, every fixture a message type")
    func fixturesCoverTheContract() throws {
        let fixtureNames = Set(Fixture.all.map(\.messageName))
        let contractNames = Set(ContractRegistry.messageTypes.keys.filter { $0.hasPrefix("nkudo.v1.") })
        #expect(!fixtureNames.isEmpty)
        #expect(contractNames.subtracting(fixtureNames).isEmpty, "messages without a fixture: \(contractNames.subtracting(fixtureNames).sorted())")
        #expect(fixtureNames.subtracting(contractNames).isEmpty, "fixtures without a message: \(fixtureNames.subtracting(contractNames).sorted())")
    }

    @Test("the binary fixture is what protoc --encode makes of the text fixture (not stale)", arguments: Fixture.all)
    func binaryFixtureIsFresh(fixture: Fixture) async throws {
        #expect(try await Protoc.encode(fixture.textFormat, as: fixture.messageName) == fixture.binary)
    }

    @Test("our binary encoding equals protoc's bytes", arguments: Fixture.all)
    func binaryEncodingMatchesProtoc(fixture: Fixture) throws {
        let type = try #require(fixture.messageType)
        let message = try type.init(serializedBytes: fixture.binary)
        #expect(try message.serializedBytes() == fixture.binary)
    }

    @Test("protoc --decode of our bytes gives the text fixture back", arguments: Fixture.all)
    func protocDecodesOurBytes(fixture: Fixture) async throws {
        let type = try #require(fixture.messageType)
        let ours = try type.init(jsonBytes: fixture.json).serializedBytes()
        let expected = try await Protoc.decode(fixture.binary, as: fixture.messageName)
        #expect(try await Protoc.decode(ours, as: fixture.messageName) == expected)
    }

    @Test("JSON decoding of the fixture equals binary decoding of protoc's bytes", arguments: Fixture.all)
    func jsonDecodingMatchesBinary(fixture: Fixture) throws {
        let type = try #require(fixture.messageType)
        let fromJSON = try type.init(jsonBytes: fixture.json)
        let fromBinary = try type.init(serializedBytes: fixture.binary)
        #expect(fromJSON.protoFields == fromBinary.protoFields)
    }

    @Test("the lowerCamelCase spelling of the fixture decodes to the same message", arguments: Fixture.all)
    func lowerCamelCaseDecodes(fixture: Fixture) throws {
        let type = try #require(fixture.messageType)
        let camel = JSONComparison.camelCased(try JSONComparison.parse(fixture.json), schema: type.protoMessageSchema)
        let fromCamel = try type.init(jsonBytes: JSONComparison.render(camel))
        #expect(fromCamel.protoFields == (try type.init(serializedBytes: fixture.binary)).protoFields)
    }

    @Test("our JSON encoding equals the canonical JSON fixture", arguments: Fixture.all)
    func jsonEncodingMatchesFixture(fixture: Fixture) throws {
        let type = try #require(fixture.messageType)
        let ours = try type.init(serializedBytes: fixture.binary).jsonBytes()
        let difference = JSONComparison.difference(try JSONComparison.parse(ours), try JSONComparison.parse(fixture.json))
        #expect(difference == nil, "\(fixture): \(difference ?? "")")
    }

    @Test("binary and JSON round trips are lossless", arguments: Fixture.all)
    func roundTrips(fixture: Fixture) throws {
        let type = try #require(fixture.messageType)
        let message = try type.init(serializedBytes: fixture.binary)
        let viaJSON = try type.init(jsonBytes: message.jsonBytes())
        let viaBinary = try type.init(serializedBytes: message.serializedBytes())
        #expect(viaJSON.protoFields == message.protoFields)
        #expect(viaBinary.protoFields == message.protoFields)
        #expect(try viaJSON.serializedBytes() == fixture.binary)
    }
}
