#if canImport(Glibc)
import Glibc
#endif
// FoundationEssentials where the toolchain has it: monitorctl links no full Foundation.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import ControlProtocol
import MQTTLink

extension Monitorctl {
    /// `monitorctl rooms --mqtt HOST[:PORT]`: every monitor on the broker, from its retained
    /// topics (it does not need a daemon on this machine).
    struct Rooms: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the rooms (monitors) on an MQTT broker with their state, last need and availability.",
            discussion: "Reads the retained <prefix>/<room>/state, need, availability and episodes_today topics. Exit status: 0 ok, 1 the broker refused us, 69 the broker could not be reached.")
        @Option(help: ArgumentHelp("The broker (port default 1883, or 8883 with --tls-ca-file).", valueName: "HOST[:PORT]"))
        var mqtt: String
        @Option(help: ArgumentHelp("Topic prefix the monitors publish under (their topic_prefix without /<room>).", valueName: "PREFIX"))
        var prefix: String = "babymonitor"
        @Option(help: "User name on the broker.") var username: String?
        @Option(name: .customLong("password-file"), help: ArgumentHelp("File whose first line is the password.", valueName: "PATH"))
        var passwordFile: String?
        @Option(name: .customLong("tls-ca-file"), help: ArgumentHelp("CA certificate (PEM) of the broker: use TLS, verifying the broker.", valueName: "PATH"))
        var tlsCAFile: String?
        @Option(help: "Seconds to wait for the broker's answer.") var timeout: Double = 10
        @Flag(help: "Print one JSON object: {\"rooms\":[...]}.") var json = false

        func validate() throws {
            if passwordFile != nil && username == nil { throw ValidationError("--password-file needs --username") }
            if prefix.isEmpty || prefix.contains("+") || prefix.contains("#") {
                throw ValidationError("--prefix must be a topic without wildcards, got \"\(prefix)\"")
            }
            guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        }

        func run() throws {
            let address: (host: String, port: Int)
            do { address = try BrokerEndpoint.parseAddress(mqtt, tls: tlsCAFile != nil) } catch {
                throw ValidationError("--mqtt \(error)")
            }
            var password: String?
            if let passwordFile {
                guard let data = FileManager.default.contents(atPath: passwordFile) else {
                    printError("monitorctl: --password-file \(passwordFile) cannot be read")
                    throw SysExit.failure
                }
                password = BrokerEndpoint.password(fromFile: data)
            }
            let endpoint = BrokerEndpoint(host: address.host, port: address.port, username: username,
                                          password: password, tlsCAFile: tlsCAFile, keepaliveSeconds: 30)
            let rooms: [RoomInfo]
            do { rooms = try RoomDirectory.scan(endpoint, prefix: prefix, timeoutSeconds: timeout) } catch {
                printError("monitorctl: \(error)")
                if case .refused = error { throw SysExit.failure }
                throw SysExit.unavailable
            }
            if json {
                printLine(JSONValue.object([("rooms", .array(rooms.map(roomJSON)))]).description)
                return
            }
            if rooms.isEmpty {
                printLine("no rooms under \(prefix)/ on \(mqtt)")
                return
            }
            for r in rooms { printLine(renderRoom(r)) }
        }
    }
}

func roomJSON(_ r: RoomInfo) -> JSONValue {
    let need = r.lastNeed.flatMap { try? JSONValue.parse($0) } ?? .null
    return .object([
        ("room", .string(r.room)),
        ("state", r.state.map(JSONValue.string) ?? .null),
        ("availability", r.availability.map(JSONValue.string) ?? .null),
        ("last_need", need),
        ("episodes_today", r.episodesToday.map { .number(Double($0)) } ?? .null),
    ])
}

/// `nursery    online   listening   2 episodes today   last need hungry 0.71 (final), episode 12 ...`
func renderRoom(_ r: RoomInfo) -> String {
    var line = pad(r.room, 14) + pad(r.availability ?? "?", 9) + pad(r.state ?? "?", 11)
    if let n = r.episodesToday { line += "  \(n) episodes today" }
    if let text = r.lastNeed, let value = try? JSONValue.parse(text), let need = try? MonitorEvent(json: value) {
        line += "  last need " + renderNeed(need)
    } else {
        line += "  no need yet"
    }
    return line
}
