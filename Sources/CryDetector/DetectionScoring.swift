/// A labelled cry in a recording (seconds from its start) with the cause, if known.
public struct LabelledCry: Sendable, Equatable {
    public var start: Double
    public var end: Double
    public var cause: String
    public init(start: Double, end: Double, cause: String = "") {
        self.start = start; self.end = end; self.cause = cause
    }
}

/// A detected episode in seconds, with its confirmation time and predicted cause.
public struct DetectedEpisode: Sendable, Equatable {
    public var start: Double
    public var end: Double
    public var confirmedAt: Double
    public var cause: String?
    public init(start: Double, end: Double, confirmedAt: Double, cause: String? = nil) {
        self.start = start; self.end = end; self.confirmedAt = confirmedAt; self.cause = cause
    }
}

/// The figures of a detector on a labelled recording.
public struct DetectionScore: Sendable, Equatable {
    public var cries: Int
    /// Cries overlapped by at least one detected episode.
    public var found: Int
    /// Detected episodes overlapping no labelled cry.
    public var falseAlarms: Int
    public var durationSeconds: Double
    /// Per found cry: confirmation of the first detected episode overlapping it minus the
    /// labelled start (negative when an episode that began earlier ran into the cry).
    public var onsetLatencies: [Double]
    /// Seconds of the recording outside every labelled cry, and how many of them lie
    /// inside detected episodes.
    public var nonCrySeconds: Double
    public var nonCrySecondsDetected: Double
    /// Seconds inside detected episodes.
    public var detectedSeconds: Double
    /// With causes: per found cry, (labelled cause, predicted cause of its first episode).
    public var causePairs: [(truth: String, predicted: String)]

    public var recall: Double { cries == 0 ? .nan : Double(found) / Double(cries) }
    public var falseAlarmsPerHour: Double { durationSeconds > 0 ? Double(falseAlarms) * 3600 / durationSeconds : .nan }
    public var latencyMedian: Double { DetectionScore.quantile(onsetLatencies, 0.5) }
    public var latencyP90: Double { DetectionScore.quantile(onsetLatencies, 0.9) }
    /// Share of the non-cry time that the detector reports as cry (target < 5%).
    public var nonCryShare: Double { nonCrySeconds > 0 ? nonCrySecondsDetected / nonCrySeconds : .nan }
    /// Share of the detected time that is not cry (how loose the episodes are).
    public var detectedNonCryShare: Double { detectedSeconds > 0 ? nonCrySecondsDetected / detectedSeconds : .nan }

    /// Unweighted average recall of the causes over found cries, over the classes that occur
    /// in their labels (nil without predictions).
    public var causeUAR: Double? {
        guard !causePairs.isEmpty else { return nil }
        var total: [String: Int] = [:], right: [String: Int] = [:]
        for (t, p) in causePairs {
            total[t, default: 0] += 1
            if t == p { right[t, default: 0] += 1 }
        }
        let recalls = total.map { Double(right[$0.key, default: 0]) / Double($0.value) }
        return recalls.reduce(0, +) / Double(recalls.count)
    }

    /// Linear interpolation between order statistics (q = 0.5 of an even count is the mean
    /// of the two middle values); NaN for no values.
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        let x = q * Double(s.count - 1)
        let i = Int(x.rounded(.down))
        let frac = x - Double(i)
        return i + 1 < s.count ? s[i] + frac * (s[i + 1] - s[i]) : s[i]
    }

    /// Scores `detected` against `labels` over a recording of `duration` seconds.
    /// A cry is found when a detected episode overlaps it (shares a positive length of
    /// time); a detected episode overlapping no cry is a false alarm.
    public static func score(detected: [DetectedEpisode], labels: [LabelledCry], duration: Double) -> DetectionScore {
        func overlaps(_ a: (Double, Double), _ b: (Double, Double)) -> Bool { min(a.1, b.1) > max(a.0, b.0) }
        let episodes = detected.sorted { $0.start < $1.start }
        var found = 0
        var latencies: [Double] = []
        var pairs: [(String, String)] = []
        for cry in labels {
            guard let first = episodes.first(where: { overlaps(($0.start, $0.end), (cry.start, cry.end)) }) else { continue }
            found += 1
            latencies.append(first.confirmedAt - cry.start)
            if let cause = first.cause { pairs.append((cry.cause, cause)) }
        }
        let falseAlarms = episodes.filter { e in !labels.contains { overlaps((e.start, e.end), ($0.start, $0.end)) } }.count

        let cryUnion = union(labels.map { (max(0, $0.start), min(duration, $0.end)) })
        let detUnion = union(episodes.map { (max(0, $0.start), min(duration, $0.end)) })
        let crySeconds = cryUnion.reduce(0) { $0 + $1.1 - $1.0 }
        let detectedSeconds = detUnion.reduce(0) { $0 + $1.1 - $1.0 }
        var both = 0.0
        for d in detUnion { for c in cryUnion { both += max(0, min(d.1, c.1) - max(d.0, c.0)) } }
        return DetectionScore(cries: labels.count, found: found, falseAlarms: falseAlarms, durationSeconds: duration,
                              onsetLatencies: latencies, nonCrySeconds: duration - crySeconds,
                              nonCrySecondsDetected: detectedSeconds - both, detectedSeconds: detectedSeconds,
                              causePairs: pairs)
    }

    /// Sorted, disjoint union of intervals.
    static func union(_ intervals: [(Double, Double)]) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        for (a, b) in intervals.filter({ $0.1 > $0.0 }).sorted(by: { $0.0 < $1.0 }) {
            if let last = out.last, a <= last.1 { out[out.count - 1].1 = max(last.1, b) } else { out.append((a, b)) }
        }
        return out
    }

    public static func == (l: DetectionScore, r: DetectionScore) -> Bool {
        l.cries == r.cries && l.found == r.found && l.falseAlarms == r.falseAlarms && l.durationSeconds == r.durationSeconds
            && l.onsetLatencies == r.onsetLatencies && l.nonCrySeconds == r.nonCrySeconds
            && l.nonCrySecondsDetected == r.nonCrySecondsDetected && l.detectedSeconds == r.detectedSeconds
            && l.causePairs.elementsEqual(r.causePairs) { $0 == $1 }
    }
}

/// Reading and writing the `start_s<TAB>end_s<TAB>cause` label files of `crymodel night`.
public enum LabelFile {
    public struct ParseError: Error, CustomStringConvertible {
        public var path: String, line: Int, problem: String
        public var description: String { "\(path):\(line): \(problem)" }
    }

    /// Lines `start_s end_s [cause]` separated by tabs or spaces; `#` comments, blank lines
    /// and a header line starting with `start` are skipped.
    public static func parse(_ text: String, path: String) throws -> [LabelledCry] {
        var result: [LabelledCry] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmed(" \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("start") { continue }
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2, let s = Double(fields[0]), let e = Double(fields[1]), s.isFinite, e.isFinite else {
                throw ParseError(path: path, line: i + 1, problem: "expected 'start_s<TAB>end_s[<TAB>cause]', got '\(line)'")
            }
            guard e > s, s >= 0 else { throw ParseError(path: path, line: i + 1, problem: "end \(e) is not after start \(s) >= 0") }
            result.append(LabelledCry(start: s, end: e, cause: fields.count > 2 ? String(fields[2]) : ""))
        }
        return result
    }

    public static func format(_ labels: [LabelledCry]) -> String {
        labels.map { "\(fmt($0.start))\t\(fmt($0.end))\t\($0.cause)\n" }.joined()
    }

    /// Seconds with millisecond resolution, as in every TSV of the tools.
    public static func fmt(_ x: Double) -> String {
        let ms = Int((x * 1000).rounded())
        let s = ms / 1000, r = abs(ms % 1000)
        let pad = r < 10 ? "00" : r < 100 ? "0" : ""
        return "\(ms < 0 && s == 0 ? "-" : "")\(s).\(pad)\(r)"
    }
}

extension StringProtocol {
    fileprivate func trimmed(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// Which distractors raised the false alarms: for each distractor class of a night's
/// `placements.tsv`, how many placed sounds a false-alarm episode overlaps.
public struct FalseAlarmSource: Sendable, Equatable {
    public var cause: String
    public var placed: Int
    public var alarmed: Int
    public init(cause: String, placed: Int, alarmed: Int) {
        self.cause = cause; self.placed = placed; self.alarmed = alarmed
    }

    /// Per distractor class (sorted by name). A false alarm is a detected episode that
    /// overlaps no labelled cry (as in `DetectionScore`); a distractor is alarmed when at
    /// least one false alarm overlaps it.
    public static func count(detected: [DetectedEpisode], labels: [LabelledCry],
                             placements: [NightComposer.Placement]) -> [FalseAlarmSource] {
        func overlaps(_ a: (Double, Double), _ b: (Double, Double)) -> Bool { min(a.1, b.1) > max(a.0, b.0) }
        let falseAlarms = detected.filter { e in !labels.contains { overlaps((e.start, e.end), ($0.start, $0.end)) } }
        var placed: [String: Int] = [:], alarmed: [String: Int] = [:]
        for p in placements where !p.isCry {
            placed[p.cause, default: 0] += 1
            if falseAlarms.contains(where: { overlaps(($0.start, $0.end), (p.start, p.end)) }) { alarmed[p.cause, default: 0] += 1 }
        }
        return placed.keys.sorted().map { FalseAlarmSource(cause: $0, placed: placed[$0]!, alarmed: alarmed[$0, default: 0]) }
    }
}

/// Reading the `placements.tsv` of `crymodel night`:
/// `start_s<TAB>end_s<TAB>kind<TAB>cause<TAB>level_dbfs<TAB>clips`, kind `cry` or `other`.
public enum PlacementFile {
    public static func parse(_ text: String, path: String) throws -> [NightComposer.Placement] {
        var result: [NightComposer.Placement] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmed(" \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("start") { continue }
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 5, let s = Double(f[0]), let e = Double(f[1]), let level = Double(f[4]),
                  s.isFinite, e.isFinite, e > s, s >= 0, f[2] == "cry" || f[2] == "other", !f[3].isEmpty else {
                throw LabelFile.ParseError(path: path, line: i + 1,
                                           problem: "expected 'start_s<TAB>end_s<TAB>cry|other<TAB>cause<TAB>level_dbfs<TAB>clips', got '\(line)'")
            }
            result.append(NightComposer.Placement(start: s, end: e, isCry: f[2] == "cry", cause: f[3], levelDB: level,
                                                  clips: f.count > 5 ? f[5].split(separator: ",").map(String.init) : []))
        }
        return result
    }
}
