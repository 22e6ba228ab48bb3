import AudioIO
import CryModel
import Foundation

/// Perturbed copies of the cause corpus's cries for training only (issue 12, item 4): a
/// different baby's voice, another room and microphone, another phone codec. sox runs the
/// effects (the same ones `crymodel detect-set --perturb-share/--room-share` gives positives).
///
/// A copy is a train-only clip (`Clip.trainOnly`) with its original's group, so the split
/// logic that keeps `--train-only` corpora honest keeps copies honest too: a copy trains
/// only in a split whose validation and test parts do not hold its family, and it is never
/// validated or scored. The held-out clips of a fold are therefore never perturbed, and the
/// folds of the scored clips are the same with and without augmentation (paired comparison).
public enum CryAugmentation {
    public enum Kind: String, Sendable, CaseIterable, Comparable {
        /// sox `pitch` of 300-400 cents up or down (tempo kept), then `tempo` 0.85-1.18
        /// (pitch kept): another baby's voice and crying rate.
        case voice
        /// Reverberation, a peaking EQ and a high-pass: another room and microphone.
        case room
        /// Through a speech codec and back: AMR-NB 12.2 kbit/s when sox has it
        /// (libsox-fmt-all), otherwise GSM 06.10 (built into sox).
        case codec

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public static let pitchCents: ClosedRange<Double> = 300 ... 400
    public static let tempoFactor: ClosedRange<Double> = 0.85 ... 1.18

    /// What one copy gets: sox effects (pitch, tempo, room) and whether it goes through the codec.
    public struct Recipe: Sendable, Equatable {
        public var effects: [String]
        public var codec: Bool
        /// The pitch shift drawn, in cents (0 without `voice`).
        public var cents: Int
        public var tempo: Double
    }

    static func uniform(_ r: ClosedRange<Double>, _ rng: inout SplitMix64) -> Double {
        r.lowerBound + (r.upperBound - r.lowerBound) * rng.nextUnit()
    }

    /// Room and microphone effects, drawn in this order (`crymodel detect-set` draws the same).
    public static func roomEffects(rate: Int, rng: inout SplitMix64) -> [String] {
        let nyq = Double(rate) / 2
        return ["reverb", String(Int(uniform(10 ... 80, &rng))), String(Int(uniform(20 ... 90, &rng))),
                String(Int(uniform(20 ... 100, &rng))), "100", String(Int(uniform(0 ... 30, &rng))),
                "equalizer", String(Int(uniform(200 ... nyq * 0.8, &rng))), "1q", String(format: "%.1f", uniform(-9 ... 9, &rng)),
                "highpass", String(Int(uniform(60 ... 300, &rng)))]
    }

    /// Every kind in `kinds` is applied to every copy.
    public static func recipe(kinds: Set<Kind>, rate: Int, rng: inout SplitMix64) -> Recipe {
        var r = Recipe(effects: [], codec: false, cents: 0, tempo: 1)
        if kinds.contains(.voice) {
            let sign: Double = rng.nextUnit() < 0.5 ? -1 : 1
            r.cents = Int((sign * uniform(pitchCents, &rng)).rounded())
            r.tempo = (uniform(tempoFactor, &rng) * 1000).rounded() / 1000
            r.effects += ["pitch", String(r.cents), "tempo", String(format: "%.3f", r.tempo)]
        }
        if kinds.contains(.room) { r.effects += roomEffects(rate: rate, rng: &rng) }
        r.codec = kinds.contains(.codec)
        return r
    }

    /// FNV-1a of a string: a seed per clip that does not depend on the clip's index.
    static func stableHash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    /// The recipe of copy `copy` of the file named `fileName` (the same on every run and machine).
    public static func recipe(kinds: Set<Kind>, fileName: String, copy: Int, seed: UInt64, rate: Int) -> Recipe {
        var rng = SplitMix64(seed: stableHash(fileName) ^ (seed &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(copy + 1))
        for _ in 0..<3 { _ = rng.next() }
        return recipe(kinds: kinds, rate: rate, rng: &rng)
    }

    /// `corpus` plus `copies` perturbed copies of every scored clip (train-only clips are not
    /// copied), each a train-only clip of its original's class, group and source.
    /// `make(original, copy)` writes a copy and returns its path (`SoxAugmenter.make` in use;
    /// tests inject their own).
    public static func addingCopies(to corpus: Corpus, copies: Int, threads: Int = 2,
                                    make: @Sendable (_ original: Clip, _ copy: Int) throws -> String) throws -> Corpus {
        guard copies > 0 else { return corpus }
        let originals = corpus.clips.filter { !$0.trainOnly }
        let jobs = originals.flatMap { clip in (0..<copies).map { (clip, $0) } }
        let paths = ResultSlots<Result<String, any Error>>(count: jobs.count)
        let workers = max(1, min(threads, jobs.count))
        parallelFor(workers) { w in
            var i = w
            while i < jobs.count {
                paths.set(i, Result { try make(jobs[i].0, jobs[i].1) })
                i += workers
            }
        }
        var out = corpus
        for (i, job) in jobs.enumerated() {
            let path = try paths.values[i]!.get()
            out.clips.append(Clip(path: path, label: job.0.label, group: job.0.group, source: job.0.source, trainOnly: true))
        }
        return out
    }
}

/// The sox side of `CryAugmentation`: runs a recipe on a WAV file.
public struct SoxAugmenter: Sendable {
    public let kinds: Set<CryAugmentation.Kind>
    public let seed: UInt64
    /// Where copies are written (`<dir>/<class folder>/<name>.aug<seed>-<kinds>-<copy>.wav`);
    /// an existing copy is reused (its name fixes its recipe).
    public let directory: String
    public let codecFormat: String

    public init(kinds: Set<CryAugmentation.Kind>, seed: UInt64, directory: String) throws {
        guard Self.soxAvailable() else {
            throw CorpusError(path: "sox", problem: "--augment needs sox (Debian package sox) on the PATH")
        }
        self.kinds = kinds
        self.seed = seed
        self.directory = directory
        codecFormat = Self.soxSupports("amr-nb") ? "amr-nb" : "gsm"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public static func soxAvailable() -> Bool { (try? SoxProcess.capture(["sox", "--version"]))?.contains("SoX") == true }

    static func soxSupports(_ format: String) -> Bool {
        ((try? SoxProcess.capture(["sox", "--help-format", format])) ?? "").contains(format)
    }

    public func make(_ original: Clip, copy: Int) throws -> String {
        let name = (original.fileName as NSString).deletingPathExtension
        let classFolder = ((original.path as NSString).deletingLastPathComponent as NSString).lastPathComponent
        let tag = kinds.sorted().map(\.rawValue).joined(separator: "+")
        let dir = directory + "/" + classFolder
        let path = "\(dir)/\(name).aug\(seed)-\(tag)-\(copy).wav"
        if FileManager.default.fileExists(atPath: path) { return path }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let rate = (try? WAVReader.read(path: original.path).sampleRate) ?? 8000
        let recipe = CryAugmentation.recipe(kinds: kinds, fileName: original.fileName, copy: copy, seed: seed, rate: rate)
        let tmp = path + ".part\(getpid())"
        defer { for f in [tmp, tmp + ".codec", tmp + ".wav"] { try? FileManager.default.removeItem(atPath: f) } }
        try SoxProcess.run(["sox", "-q", "-G", original.path, "-b", "16", "-t", "wav", tmp + ".wav"] + recipe.effects)
        if recipe.codec {
            // Both codecs are 8 kHz mono; back to the original rate afterwards.
            try SoxProcess.run(["sox", "-q", "-G", tmp + ".wav", "-r", "8000", "-c", "1", "-t", codecFormat] + (codecFormat == "amr-nb" ? ["-C", "7"] : []) + [tmp + ".codec"])
            try SoxProcess.run(["sox", "-q", "-t", codecFormat, tmp + ".codec", "-r", "\(rate)", "-b", "16", "-t", "wav", tmp])
        } else {
            try FileManager.default.moveItem(atPath: tmp + ".wav", toPath: tmp)
        }
        try FileManager.default.moveItem(atPath: tmp, toPath: path)
        return path
    }
}

/// sox (or another tool) as a child process, stderr discarded.
public enum SoxProcess {
    public static func capture(_ argv: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    public static func run(_ argv: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw AudioFileError(path: argv.joined(separator: " "), problem: "failed with status \(p.terminationStatus)")
        }
    }
}
