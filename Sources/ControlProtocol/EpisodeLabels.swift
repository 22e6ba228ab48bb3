// Labels a parent gives an episode (`monitorctl label EPISODE LABEL`), and the socket
// requests that carry them (interfaces.md, "Labels and reload").

/// What an episode really was, in the parent's words.
///
/// `not-cry` makes the episode a detector negative (a false alarm); `cry` a detector positive
/// with no cause; each cause (`hungry` ...) is a detector positive with that cause.
public enum EpisodeLabel: String, Sendable, CaseIterable, Equatable {
    case notCry = "not-cry"
    case cry
    case hungry
    case tired
    case bellyPain = "belly_pain"
    case discomfort
    case burping

    /// The cause class, for labels that name one.
    public var cause: String? {
        switch self {
        case .notCry, .cry: return nil
        default: return rawValue
        }
    }

    /// Whether the episode was a cry at all.
    public var isCry: Bool { self != .notCry }

    public static var knownList: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Parses a label; the error names the known labels.
    public static func parse(_ text: String) throws(ControlProtocolError) -> EpisodeLabel {
        guard let label = EpisodeLabel(rawValue: text) else {
            throw .badRequest("unknown label \"\(text)\" (known: \(knownList))")
        }
        return label
    }
}

/// Which episode a label is for: a number, or the last finished episode.
public enum EpisodeReference: Sendable, Equatable, CustomStringConvertible {
    case number(Int)
    case last

    public var json: JSONValue {
        switch self {
        case .number(let n): return .number(Double(n))
        case .last: return .string("last")
        }
    }

    public var description: String {
        switch self {
        case .number(let n): return "\(n)"
        case .last: return "last"
        }
    }

    /// `12` or `last` (the command line's form).
    public static func parse(_ text: String) throws(ControlProtocolError) -> EpisodeReference {
        if text == "last" { return .last }
        guard let n = Int(text), n >= 1 else {
            throw .badRequest("episode must be a number (1 or more) or \"last\", got \"\(text)\"")
        }
        return .number(n)
    }

    /// The request's `"episode"` value: a positive integer or `"last"`.
    static func parse(json value: JSONValue) throws(ControlProtocolError) -> EpisodeReference {
        if value.stringValue == "last" { return .last }
        guard let n = value.intValue, n >= 1 else {
            throw .badRequest("\"episode\" must be a positive integer or \"last\", got \(value)")
        }
        return .number(n)
    }
}

extension MonitorEvent.Kind {
    /// A parent's label for an episode.
    public static let label = "label"
    /// Models swapped in (start or reload).
    public static let modelsLoaded = "models_loaded"
    /// A model that failed to load or check; the models in use stay.
    public static let modelError = "model_error"
}

extension MonitorEvent {
    /// `{"v":1,"ts":...,"type":"label","episode":12,"label":"not-cry","labels":["not-cry"]}`:
    /// `labels` lists every label the episode has now, oldest first.
    public static func label(episode: Int, label: EpisodeLabel, allLabels: [String]) -> MonitorEvent {
        MonitorEvent(type: Kind.label, episode: episode, fields: [
            ("label", .string(label.rawValue)),
            ("labels", .array(allLabels.map(JSONValue.string))),
        ])
    }

    /// The models in use from now on; `adapted` says which came from `[models] adapted_dir`;
    /// `onThreshold` the detector's on-threshold of p(cry) from now on (an adapted detector's
    /// own, else `[detector] on_threshold`; absent without a learned detector).
    public static func modelsLoaded(reason: String, models: [(String, String)], adapted: [String], onThreshold: Double? = nil,
                                    tAudio: Double) -> MonitorEvent {
        var fields: [(String, JSONValue)] = [
            ("reason", .string(reason)),
            ("models", .object(models.map { ($0.0, JSONValue.string($0.1)) })),
            ("adapted", .array(adapted.map(JSONValue.string))),
        ]
        if let onThreshold { fields.append(("on_threshold", .number((onThreshold * 1e6).rounded() / 1e6))) }
        return MonitorEvent(type: Kind.modelsLoaded, tAudio: tAudio, fields: fields)
    }

    /// A model file refused (`path`, what is wrong); the models in use are kept.
    public static func modelError(role: String, path: String, error: String) -> MonitorEvent {
        MonitorEvent(type: Kind.modelError, fields: [
            ("model", .string(role)),
            ("path", .string(path)),
            ("error", .string(error)),
            ("kept", .string("the models in use")),
        ])
    }
}
