/// The daemon's MQTT connection, in the status reply as `"mqtt"` (present only when
/// `[mqtt] enabled = true`; interfaces.md, "MQTT").
public struct MQTTLinkStatus: Sendable, Equatable {
    /// `host:port`.
    public var broker: String = ""
    public var room: String = ""
    public var topicPrefix: String = ""
    /// `connecting` (first attempt), `connected`, or `retrying` (with `reason`).
    public var state: String = "connecting"
    /// Why the last attempt failed or the connection was lost (nil when connected).
    public var reason: String?
    /// Events waiting for the broker, and the queue's bound.
    public var queued: Int = 0
    public var queueCapacity: Int = 0
    /// Events dropped (oldest first) because the queue was full.
    public var dropped: Int = 0
    /// Events the broker accepted (acknowledged at QoS 1/2).
    public var sent: Int = 0
    public var tls: Bool = false

    public init() {}

    public var json: JSONValue {
        .object([
            ("broker", .string(broker)),
            ("room", .string(room)),
            ("topic_prefix", .string(topicPrefix)),
            ("state", .string(state)),
            ("reason", reason.map(JSONValue.string) ?? .null),
            ("queued", .number(Double(queued))),
            ("queue_capacity", .number(Double(queueCapacity))),
            ("dropped", .number(Double(dropped))),
            ("sent", .number(Double(sent))),
            ("tls", .bool(tls)),
        ])
    }

    public init(json: JSONValue) throws(ControlProtocolError) {
        guard case .object = json else { throw .badMessage("mqtt status is not a JSON object") }
        broker = json["broker"]?.stringValue ?? ""
        room = json["room"]?.stringValue ?? ""
        topicPrefix = json["topic_prefix"]?.stringValue ?? ""
        state = json["state"]?.stringValue ?? "unknown"
        reason = json["reason"]?.stringValue
        queued = json["queued"]?.intValue ?? 0
        queueCapacity = json["queue_capacity"]?.intValue ?? 0
        dropped = json["dropped"]?.intValue ?? 0
        sent = json["sent"]?.intValue ?? 0
        tls = json["tls"]?.boolValue ?? false
    }
}
