import Testing
import Foundation
@testable import MonitorDaemon

@Suite struct MQTTConfigTests {
    @Test func defaultsAndDerivedNames() throws {
        let c = try DaemonConfig.parse("[mqtt]\nenabled = true\nhost = \"broker.lan\"\nroom = \"nursery\"\n", path: "/etc/b.toml")
        #expect(c.mqtt.enabled && c.mqtt.host == "broker.lan" && c.mqtt.effectivePort == 1883)
        #expect(c.mqtt.effectiveTopicPrefix == "babymonitor/nursery" && c.mqtt.effectiveClientID == "babymonitor-nursery")
        #expect(c.mqtt.qos == 1 && c.mqtt.discovery && c.mqtt.discoveryPrefix == "homeassistant" && c.mqtt.queueSize == 1000)
        #expect(DaemonConfig().mqtt.enabled == false)
        #expect(DaemonConfig().mqtt.room.allSatisfy(DaemonConfig.MQTT.isRoomCharacter))
    }

    @Test func tlsDefaultPortAndPasswordFile() throws {
        let dir = makeTempDirectory("bmmqttcfg"); defer { removeTree(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/ca.pem", contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: dir + "/pw", contents: Data("s3cret pass\n".utf8))
        let c = try DaemonConfig.parse("""
            [mqtt]
            enabled = true
            host = "b"
            username = "u"
            password_file = "pw"
            tls_ca_file = "ca.pem"
            """, path: dir + "/b.toml")
        #expect(c.mqtt.effectivePort == 8883 && c.mqtt.tlsCAFile == dir + "/ca.pem")
        #expect(c.mqtt.password?.value == "s3cret pass")
        // Never printed: not in the value's description, nor in a dump of the config.
        #expect(!"\(c)".contains("s3cret") && !String(reflecting: c).contains("s3cret"))
    }

    @Test(arguments: [
        ("[mqtt]\nenabled = true\n", "mqtt.host", "required"),
        ("[mqtt]\nroom = \"baby room\"\n", "mqtt.room", "letters, digits"),
        ("[mqtt]\nport = 70000\n", "mqtt.port", "out of range"),
        ("[mqtt]\nqos = 3\n", "mqtt.qos", "out of range"),
        ("[mqtt]\ntopic_prefix = \"home/+/x\"\n", "mqtt.topic_prefix", "wildcards"),
        ("[mqtt]\ntopic_prefix = \"/home\"\n", "mqtt.topic_prefix", "empty topic levels"),
        ("[mqtt]\ntls_insecure = true\n", "mqtt.tls_insecure", "not supported"),
        ("[mqtt]\nusername = \"u\"\npassword_file = \"/nonexistent/pw\"\n", "mqtt.password_file", "does not exist"),
        ("[mqtt]\npassword_file = \"/etc/hostname\"\n", "mqtt.password_file", "needs mqtt.username"),
        ("[mqtt]\ntls_ca_file = \"/nonexistent/ca.pem\"\n", "mqtt.tls_ca_file", "No such file"),
        ("[mqtt]\nqueue_size = 0\n", "mqtt.queue_size", "out of range"),
        ("[mqtt]\nreconnect_min_s = 10\nreconnect_max_s = 5\n", "mqtt.reconnect_max_s", "less than"),
        ("[mqtt]\nenabled = \"yes\"\n", "mqtt.enabled", "expected true or false"),
        ("[mqtt]\nbroker = \"x\"\n", "mqtt.broker", "unknown key"),
    ])
    func errorsNameTheKey(text: String, key: String, problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try DaemonConfig.parse(text, path: "/etc/b.toml") }
        #expect(error.key == key, "\(error)")
        #expect(error.problem.contains(problem), "\(error)")
    }
}
