import ControlProtocol

/// Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
/// one retained config message per entity under
/// `<discovery_prefix>/<component>/babymonitor_<room>/<object_id>/config`, all sharing one
/// device block and the availability topic. Unique ids depend only on the room, so they are
/// the same on every start (Home Assistant keeps the entity's history and customisation).
struct MQTTDiscovery {
    struct Entity {
        let component: String      // binary_sensor, sensor
        let objectID: String
        let payload: JSONValue
    }

    let room: String
    let topics: MQTTTopics
    let discoveryPrefix: String
    let version: String

    var nodeID: String { "babymonitor_\(room)" }

    /// Every entity this version can offer (the ones to clear when discovery is off).
    static let objectIDs: [(component: String, objectID: String)] = [
        ("binary_sensor", "crying"), ("sensor", "need"), ("sensor", "episodes_today"),
    ]

    func configTopic(component: String, objectID: String) -> String {
        "\(discoveryPrefix)/\(component)/\(nodeID)/\(objectID)/config"
    }

    var device: JSONValue {
        .object([
            ("identifiers", .array([.string(nodeID)])),
            ("name", .string("Baby monitor \(room)")),
            ("manufacturer", .string("babymonitor")),
            ("model", .string("babymonitord")),
            ("sw_version", .string(version)),
            ("suggested_area", .string(room)),
        ])
    }

    private func common(_ objectID: String, name: String) -> [(String, JSONValue)] {
        [
            ("name", .string(name)),
            ("unique_id", .string("\(nodeID)_\(objectID)")),
            ("object_id", .string("\(nodeID)_\(objectID)")),
            ("availability_topic", .string(topics.availability)),
            ("payload_available", .string("online")),
            ("payload_not_available", .string("offline")),
            ("device", device),
        ]
    }

    var entities: [Entity] {
        // State `cry` (status's name for it) is on; any other state is off.
        let crying = common("crying", name: "Crying") + [
            ("device_class", .string("sound")),
            ("state_topic", .string(topics.state)),
            ("value_template", .string("{{ 'ON' if value == 'cry' else 'OFF' }}")),
            ("payload_on", .string("ON")),
            ("payload_off", .string("OFF")),
            ("icon", .string("mdi:emoticon-cry-outline")),
        ]
        let need = common("need", name: "Cry need") + [
            ("state_topic", .string(topics.need)),
            ("value_template", .string("{{ value_json.label }}")),
            ("json_attributes_topic", .string(topics.need)),
            ("json_attributes_template", .string(
                "{{ {'confidence': value_json.confidence, 'episode': value_json.episode, 'final': value_json.final, 'probs': value_json.probs} | tojson }}")),
            ("icon", .string("mdi:baby-bottle-outline")),
        ]
        let episodes = common("episodes_today", name: "Cry episodes today") + [
            ("state_topic", .string(topics.episodesToday)),
            ("state_class", .string("measurement")),
            ("icon", .string("mdi:counter")),
        ]
        return [
            Entity(component: "binary_sensor", objectID: "crying", payload: .object(crying)),
            Entity(component: "sensor", objectID: "need", payload: .object(need)),
            Entity(component: "sensor", objectID: "episodes_today", payload: .object(episodes)),
        ]
    }

    /// The retained messages to send after connecting: the configs when discovery is on,
    /// else an empty retained message per entity (Home Assistant removes it).
    func messages(enabled: Bool) -> [(topic: String, payload: [UInt8])] {
        if enabled {
            return entities.map { (configTopic(component: $0.component, objectID: $0.objectID), Array($0.payload.description.utf8)) }
        }
        return Self.objectIDs.map { (configTopic(component: $0.component, objectID: $0.objectID), []) }
    }
}

/// The topics under `<prefix>` (docs/interfaces.md, "MQTT").
struct MQTTTopics: Sendable {
    let prefix: String
    var event: String { prefix + "/event" }
    var state: String { prefix + "/state" }
    var need: String { prefix + "/need" }
    var episodesToday: String { prefix + "/episodes_today" }
    var availability: String { prefix + "/availability" }
}
