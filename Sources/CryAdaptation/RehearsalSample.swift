import Foundation
import AudioIO
import Features
import CryModel

/// A compact sample of the shipped models' training material, as features, that adaptation
/// rehearses so that it does not forget what the models knew (and on which it checks that
/// an adapted model is not worse than the shipped one).
///
/// One fixed-length crop per row: for each task (`detect`, `cause`) a tensor
/// `<task>.features` [crops, frames, features] of raw (not normalised) front-end features
/// in float16, and `<task>.labels` [crops] (int32, indices into the task's classes, listed
/// in the metadata). Stored as safetensors (`config/models/rehearsal.safetensors`); made by
/// `crymodel rehearsal-sample`.
public struct RehearsalSample: Sendable {
    public struct TaskSet: Sendable {
        public var task: String
        public var classes: [String]
        public var frames: Int
        public var featureCount: Int
        /// crops * frames * featureCount, row-major.
        public var values: [Float]
        public var labels: [Int]

        public var cropCount: Int { labels.count }

        public func crop(_ i: Int) -> ArraySlice<Float> {
            values[(i * frames * featureCount)..<((i + 1) * frames * featureCount)]
        }
    }

    public var sets: [TaskSet]
    public var metadata: [String: String]

    public init(sets: [TaskSet], metadata: [String: String]) {
        self.sets = sets
        self.metadata = metadata
    }

    public func set(_ task: String) -> TaskSet? { sets.first { $0.task == task } }

    // MARK: building

    /// Picks `perClass` crops of `frames` frames for each class from the WAV files under each
    /// class's folders (resampled to the front end's rate). Each crop is the loudest (by mean
    /// `log_rms`) of four random windows of a random file, so that a cry crop holds crying.
    public static func build(task: String, classes: [(name: String, folders: [String])], frontEnd: FrontEndConfig,
                             perClass: Int, frames: Int, seed: UInt64) throws -> TaskSet {
        var rng = AdaptationRandom(seed: seed)
        var values: [Float] = []
        var labels: [Int] = []
        let d = frontEnd.featureCount
        let levelIndex = frontEnd.featureNames.firstIndex(of: "log_rms") ?? 0
        for (label, entry) in classes.enumerated() {
            let files = entry.folders.flatMap { wavFiles(under: $0) }.sorted()
            guard !files.isEmpty else {
                throw AdaptationError.data("no WAV files for class \(entry.name) under \(entry.folders.joined(separator: ", "))")
            }
            var cache: [String: FeatureMatrix] = [:]
            var made = 0, tries = 0
            while made < perClass {
                tries += 1
                if tries > perClass * 20 {
                    throw AdaptationError.data("class \(entry.name): too few recordings of at least \(frames) frames")
                }
                let file = files[rng.below(files.count)]
                let m: FeatureMatrix
                if let c = cache[file] { m = c } else {
                    let audio = try WAVReader.read(path: file, sampleRate: frontEnd.sampleRate)
                    m = FeatureExtractor.extract(audio.samples, config: frontEnd)
                    if cache.count < 64 { cache[file] = m }
                }
                guard m.frameCount >= frames else { continue }
                var best = 0, bestLevel = -Float.infinity
                for _ in 0..<4 {
                    let start = rng.below(m.frameCount - frames + 1)
                    var level: Float = 0
                    for t in start..<(start + frames) { level += m.values[t * d + levelIndex] }
                    if level > bestLevel { bestLevel = level; best = start }
                }
                values.append(contentsOf: m.values[(best * d)..<((best + frames) * d)])
                labels.append(label)
                made += 1
            }
        }
        return TaskSet(task: task, classes: classes.map(\.name), frames: frames, featureCount: d, values: values, labels: labels)
    }

    static func wavFiles(under folder: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: folder) else { return [] }
        var out: [String] = []
        while let p = e.nextObject() as? String {
            if p.lowercased().hasSuffix(".wav") { out.append(folder + "/" + p) }
        }
        return out
    }

    // MARK: file

    /// safetensors: 8-byte little-endian header length, JSON header, then the tensors.
    public func write(to path: String) throws {
        var data: [UInt8] = []
        var header: [(String, String)] = []
        for s in sets {
            let start = data.count
            for v in s.values { let b = Float16(v).bitPattern; data.append(UInt8(b & 0xFF)); data.append(UInt8(b >> 8)) }
            header.append(("\(s.task).features", "{\"dtype\":\"F16\",\"shape\":[\(s.cropCount),\(s.frames),\(s.featureCount)],\"data_offsets\":[\(start),\(data.count)]}"))
            let lstart = data.count
            for l in s.labels { for k in 0..<4 { data.append(UInt8((UInt32(l) >> (8 * UInt32(k))) & 0xFF)) } }
            header.append(("\(s.task).labels", "{\"dtype\":\"I32\",\"shape\":[\(s.cropCount)],\"data_offsets\":[\(lstart),\(data.count)]}"))
        }
        var meta = metadata
        for s in sets { meta["\(s.task).classes"] = s.classes.joined(separator: ",") }
        let metaJSON = meta.keys.sorted().map { "\(jsonString($0)):\(jsonString(meta[$0]!))" }.joined(separator: ",")
        var text = "{\"__metadata__\":{\(metaJSON)}"
        for (k, v) in header { text += ",\(jsonString(k)):\(v)" }
        text += "}"
        while (text.utf8.count + 8) % 8 != 0 { text += " " }
        var out: [UInt8] = []
        let n = UInt64(text.utf8.count)
        for k in 0..<8 { out.append(UInt8((n >> (8 * UInt64(k))) & 0xFF)) }
        out += Array(text.utf8)
        out += data
        guard FileManager.default.createFile(atPath: path, contents: Data(out)) else {
            throw AdaptationError.io("\(path): cannot be written")
        }
    }

    public static func load(path: String) throws -> RehearsalSample {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AdaptationError.data("\(path): rehearsal sample does not exist or cannot be read")
        }
        let b = [UInt8](data)
        func fail(_ s: String) -> AdaptationError { .data("\(path): not a rehearsal sample: \(s)") }
        guard b.count >= 8 else { throw fail("too short") }
        var n = 0
        for k in 0..<8 { n |= Int(b[k]) << (8 * k) }
        guard n > 1, n <= b.count - 8 else { throw fail("bad header length \(n)") }
        guard let header = try? JSONSerialization.jsonObject(with: Data(b[8..<(8 + n)])) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let body = 8 + n
        let meta = (header["__metadata__"] as? [String: String]) ?? [:]
        var sets: [TaskSet] = []
        for task in ["detect", "cause"] {
            guard let f = header["\(task).features"] as? [String: Any], let l = header["\(task).labels"] as? [String: Any] else { continue }
            guard let shape = f["shape"] as? [Int], shape.count == 3, let fo = f["data_offsets"] as? [Int], fo.count == 2,
                  let lo = l["data_offsets"] as? [Int], lo.count == 2, f["dtype"] as? String == "F16", l["dtype"] as? String == "I32"
            else { throw fail("\(task) tensors malformed") }
            let (crops, frames, d) = (shape[0], shape[1], shape[2])
            guard crops >= 0, frames > 0, d > 0, fo[1] - fo[0] == crops * frames * d * 2, lo[1] - lo[0] == crops * 4,
                  body + fo[1] <= b.count, body + lo[1] <= b.count, fo[0] >= 0, lo[0] >= 0
            else { throw fail("\(task) tensor sizes disagree with the file") }
            var values = [Float](repeating: 0, count: crops * frames * d)
            for i in 0..<values.count {
                let o = body + fo[0] + 2 * i
                values[i] = Float(Float16(bitPattern: UInt16(b[o]) | UInt16(b[o + 1]) << 8))
            }
            let classes = (meta["\(task).classes"] ?? "").split(separator: ",").map(String.init)
            var labels: [Int] = []
            for i in 0..<crops {
                let o = body + lo[0] + 4 * i
                let v = Int(UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
                guard v < classes.count else { throw fail("\(task) label \(v) outside its \(classes.count) classes") }
                labels.append(v)
            }
            sets.append(TaskSet(task: task, classes: classes, frames: frames, featureCount: d, values: values, labels: labels))
        }
        return RehearsalSample(sets: sets, metadata: meta)
    }
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

public enum AdaptationError: Error, CustomStringConvertible {
    /// Bad input data (episodes, rehearsal sample, model file): exit 65.
    case data(String)
    case io(String)
    /// An adapted model did worse than the shipped one: nothing written for it (exit 1).
    case refused(String)

    public var description: String {
        switch self {
        case .data(let s), .io(let s), .refused(let s): return s
        }
    }
}

/// Deterministic crops and batches for a seed: the project's SplitMix64.
public typealias AdaptationRandom = SplitMix64

extension SplitMix64 {
    /// An index in 0..<n (0 when n <= 1).
    public mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}
