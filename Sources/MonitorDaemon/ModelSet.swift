#if canImport(Glibc)
import Glibc
#endif
import CryModel
import CryDetector
import Features

/// The detector and cause models the pipeline runs with, loaded and checked off the
/// processing thread (start, `reload`, SIGHUP), then handed to it to swap in between frames.
///
/// Which file each role uses: `[models] adapted_dir`/`<role>.safetensors` when it exists (a
/// model adapted to this home by `crymodel adapt`), else the configured `[models] <role>`.
/// A model is used only after it loads and passes `ModelSet.check`: the right task and
/// classes, the daemon's analysis rate, the same front end as the other model, and finite
/// posteriors over a probe signal (a model file with NaN weights loads, but must not run).
public struct ModelSet: @unchecked Sendable {
    // @unchecked: model files are value types of arrays, read-only once loaded.
    public struct Entry {
        public var model: CryModelFile
        public var path: String
        public var adapted: Bool
        /// Identity of the file it was read from (device, inode, size, mtime): an unchanged
        /// file is not swapped again on reload.
        public var fingerprint: FileFingerprint
    }

    public var detector: Entry?
    public var cause: Entry?

    /// Whether `other` runs the same files (same paths, same contents as far as stat tells).
    public func isSame(as other: ModelSet) -> Bool {
        func same(_ a: Entry?, _ b: Entry?) -> Bool {
            switch (a, b) {
            case (nil, nil): return true
            case let (a?, b?): return a.path == b.path && a.fingerprint == b.fingerprint && a.adapted == b.adapted
            default: return false
            }
        }
        return same(detector, other.detector) && same(cause, other.cause)
    }

    public var names: [(String, String)] {
        [("detector", detector), ("cause", cause)].compactMap { role, e in e.map { (role, $0.path) } }
    }
    public var adaptedRoles: [String] {
        [("detector", detector), ("cause", cause)].compactMap { role, e in e?.adapted == true ? role : nil }
    }

    /// A model refused: which role, which file, why.
    public struct Refusal: Sendable, Equatable, CustomStringConvertible {
        public var role: String
        public var path: String
        public var problem: String
        public var description: String { "\(role) model \(path): \(problem)" }
    }

    public static func adaptedPath(_ config: DaemonConfig, role: String) -> String {
        config.models.adaptedDir + "/" + role + ".safetensors"
    }

    /// The models to run: for each role the adapted file when present and sound, else the
    /// configured one. `current`: the models in use (a reload); a present adapted file that is
    /// refused then keeps the current model of that role rather than going back to the
    /// configured one. Refusals are returned (for `model_error` events); a configured model
    /// that cannot be used at start is a configuration error.
    public static func load(config: DaemonConfig, current: ModelSet? = nil,
                            frontEnd requiredFrontEnd: FrontEndConfig? = nil)
        throws(ConfigError) -> (ModelSet, [Refusal]) {
        let file = config.sourcePath ?? "built-in configuration"
        var refusals: [Refusal] = []
        var set = ModelSet()
        var frontEnd = requiredFrontEnd
        for role in ["detector", "cause"] {
            let configured = role == "detector" ? config.models.detector : config.models.cause
            let adapted = adaptedPath(config, role: role)
            let old = role == "detector" ? current?.detector : current?.cause
            var chosen: Entry?
            var adaptedExists = false
            if let fp = FileFingerprint(path: adapted) {
                adaptedExists = true
                if let old, old.fingerprint == fp, old.path == adapted {
                    chosen = old
                } else {
                    switch loadChecked(adapted, role: role, frontEnd: frontEnd, sampleRate: config.audio.sampleRate) {
                    case .success(let m): chosen = Entry(model: m, path: adapted, adapted: true, fingerprint: fp)
                    case .failure(let problem): refusals.append(Refusal(role: role, path: adapted, problem: problem.description))
                    }
                }
            }
            if chosen == nil && adaptedExists, let old {
                chosen = old   // a broken adapted model never replaces a working one
            }
            if chosen == nil, let configured {
                let fp = FileFingerprint(path: configured) ?? FileFingerprint()
                if let old, !old.adapted, old.path == configured, old.fingerprint == fp {
                    chosen = old
                } else {
                    switch loadChecked(configured, role: role, frontEnd: frontEnd, sampleRate: config.audio.sampleRate) {
                    case .success(let m): chosen = Entry(model: m, path: configured, adapted: false, fingerprint: fp)
                    case .failure(let problem):
                        if current == nil {
                            throw ConfigError(file: file, key: "models.\(role)", problem: problem.description)
                        }
                        refusals.append(Refusal(role: role, path: configured, problem: problem.description))
                        chosen = old
                    }
                }
            }
            if let chosen {
                frontEnd = frontEnd ?? chosen.model.configuration.frontEnd
                if role == "detector" { set.detector = chosen } else { set.cause = chosen }
            }
        }
        return (set, refusals)
    }

    /// Loads a model file and checks it can run in this daemon; the problem otherwise.
    static func loadChecked(_ path: String, role: String, frontEnd: FrontEndConfig?,
                            sampleRate: Int) -> Result<CryModelFile, StringError> {
        let model: CryModelFile
        do { model = try CryModelFile.load(path: path) } catch {
            return .failure(StringError("\(error)"))
        }
        if let problem = check(model, path: path, role: role, frontEnd: frontEnd, sampleRate: sampleRate) {
            return .failure(StringError(problem))
        }
        return .success(model)
    }

    /// What makes `model` unusable as the `role` model here, nil when it is fine.
    public static func check(_ model: CryModelFile, path: String, role: String, frontEnd: FrontEndConfig?,
                             sampleRate: Int) -> String? {
        let c = model.configuration
        if role == "detector" {
            do { _ = try DetectorModel(model: model, name: path) } catch { return "\(error)" }
            do { _ = try model.recordedOnThreshold(path: path) } catch { return error.description }
        } else {
            guard c.task == .cause else {
                return "\(path): model task is '\(c.task.rawValue)', expected a cause model"
            }
            guard c.inputSize == c.frontEnd.featureCount else {
                return "\(path): model takes \(c.inputSize) features per frame, its front end gives \(c.frontEnd.featureCount)"
            }
        }
        if let frontEnd, c.frontEnd != frontEnd {
            return "\(path): trained on a different front end than the other model (or the one running)"
        }
        if c.frontEnd.sampleRate != sampleRate {
            return "\(path): analyses \(c.frontEnd.sampleRate) Hz audio, the daemon runs at \(sampleRate) Hz ([audio] sample_rate)"
        }
        // Probe: 200 frames of a deterministic pseudo-random signal in feature space.
        let classifier = StreamingClassifier(model: model)
        var x = [Float](repeating: 0, count: c.inputSize)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200 {
            for i in 0..<x.count {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                x[i] = Float(Int64(bitPattern: seed >> 11) % 2000) / 1000 - 1 + (model.featureMean.indices.contains(i) ? model.featureMean[i] : 0)
            }
            let p = x.withUnsafeBufferPointer { classifier.step($0) }
            for v in p where !v.isFinite { return "\(path): the model gives non-finite posteriors (broken weights)" }
        }
        return nil
    }
}

public struct StringError: Error, CustomStringConvertible {
    public var description: String
    public init(_ s: String) { description = s }
}

/// Identity of a file's contents as far as stat(2) tells (a rewritten or renamed-over file
/// changes inode or mtime).
public struct FileFingerprint: Equatable, Sendable {
    var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = 0, mtimeNanos: Int64 = 0

    init() {}

    /// nil when the path does not exist.
    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtimeNanos = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }
}
