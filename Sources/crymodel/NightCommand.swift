import CryModel
import ArgumentParser
import AudioIO
import CryDetector
import Foundation

/// `crymodel night`: a labelled night of audio for evaluating the detector.
struct NightCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "night",
        abstract: "Build a labelled stream: cry episodes and distractor clips over a quiet noise floor.",
        discussion: """
            Cry episodes join 1-3 clips of one recording (group) and cause; the cause is the \
            clip's folder name. Clips are resampled to --rate. Writes OUT/night.wav (PCM16 mono), \
            OUT/labels.tsv (start_s<TAB>end_s<TAB>cause per cry episode, over its audible part) \
            and OUT/placements.tsv (every placed sound, with level and clips). Same seed, same night.
            """)

    @Option(name: .customLong("cries"), help: "Folder of cry clips (searched recursively; repeatable).")
    var cryDirectories: [String] = []
    @Option(name: .customLong("others"), help: "Folder of distractor clips (searched recursively; repeatable).")
    var otherDirectories: [String] = []
    @Option(help: "Length of the night in minutes.") var minutes: Double = 60
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Output folder.") var out: String
    @Option(help: "Sample rate of the night in Hz.") var rate: Int = 8000
    @Option(help: "Share of placed sounds that are cry episodes.") var cryShare: Double = 0.4
    @Option(help: "Generated distractors per acoustic kind added to the others (class generated-<kind>; see detect-set).")
    var generated: Int = 0

    func validate() throws {
        guard !cryDirectories.isEmpty else { throw ValidationError("--cries: give at least one folder of cry clips") }
        guard minutes > 0, minutes <= 24 * 60 else { throw ValidationError("--minutes \(minutes): must be in (0, 1440]") }
        guard rate >= 4000, rate <= 48000 else { throw ValidationError("--rate \(rate): must be in 4000...48000") }
        guard (0...1).contains(cryShare) else { throw ValidationError("--cry-share \(cryShare): must be in [0, 1]") }
        guard generated >= 0 else { throw ValidationError("--generated \(generated): must be >= 0") }
    }

    func run() throws {
        let cries: [NightClip], others: [NightClip]
        do {
            cries = try cryDirectories.flatMap(Self.clips(in:))
            others = try otherDirectories.flatMap(Self.clips(in:)) + generatedClips
        } catch let e as AudioFileError {
            throw fail(e.description, code: SysExit.ioError)
        }
        let generator = DistractorGenerator(sampleRate: rate, speech: generated > 0 ? EspeakSpeech.provider(rate: rate) : nil)
        guard !cries.isEmpty else { throw fail("--cries \(cryDirectories.joined(separator: " ")): no .wav files", code: SysExit.dataError) }
        var composer = NightComposer()
        composer.sampleRate = rate
        composer.cryShare = cryShare
        let night: NightComposer.Night
        do {
            night = try composer.compose(cries: cries, others: others, minutes: minutes, seed: seed) { clip in
                // "generated:<kind>:<n>": made on demand, from a seed of its own (same night for a seed).
                let parts = clip.path.split(separator: ":")
                if parts.count == 3, parts[0] == "generated", let kind = DistractorKind(rawValue: String(parts[1])), let n = UInt64(parts[2]) {
                    var rng = SplitMix64(seed: seed &* 0x9E37_79B9 &+ n &* 31 &+ UInt64(DistractorKind.allCases.firstIndex(of: kind)!))
                    return try generator.make(kind, seconds: rng.uniform(in: 2 ... 6), rng: &rng)?.samples ?? []
                }
                return try WAVReader.read(path: clip.path, sampleRate: rate).samples
            }
        } catch let e as AudioFileError {
            throw fail(e.description, code: SysExit.dataError)
        } catch {
            throw fail("\(error)", code: SysExit.dataError)
        }
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try WAVWriter.write(AudioBuffer(samples: night.samples, sampleRate: rate), to: out + "/night.wav")
            try LabelFile.format(night.labels).write(toFile: out + "/labels.tsv", atomically: true, encoding: .utf8)
            var placed = "start_s\tend_s\tkind\tcause\tlevel_dbfs\tclips\n"
            for p in night.placements {
                placed += "\(LabelFile.fmt(p.start))\t\(LabelFile.fmt(p.end))\t\(p.isCry ? "cry" : "other")\t\(p.cause)\t"
                    + "\(String(format: "%.1f", p.levelDB))\t\(p.clips.joined(separator: ","))\n"
            }
            try placed.write(toFile: out + "/placements.tsv", atomically: true, encoding: .utf8)
        } catch {
            throw fail("\(out): \(error)", code: SysExit.ioError)
        }
        let cryTime = night.labels.reduce(0) { $0 + $1.end - $1.start }
        print("night: \(String(format: "%.1f", minutes)) min at \(rate) Hz, floor \(String(format: "%.1f", night.floorLevelDB)) dBFS, "
              + "\(night.labels.count) cry episodes (\(String(format: "%.0f", cryTime)) s), "
              + "\(night.placements.count - night.labels.count) distractors -> \(out)/night.wav, \(out)/labels.tsv")
    }

    /// --generated clips per kind, as placeholders the loader makes (speech only with espeak-ng).
    var generatedClips: [NightClip] {
        DistractorKind.allCases.flatMap { kind in
            (0..<generated).map { NightClip(path: "generated:\(kind.rawValue):\($0)", group: "generated-\(kind.rawValue)/\($0)", cause: "generated-\(kind.rawValue)") }
        }
    }

    /// Every .wav under `dir` (sorted, so the seed alone fixes the night); cause = parent
    /// folder name, group = parent folder + recording (NightClip.group).
    static func clips(in dir: String) throws -> [NightClip] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw AudioFileError(path: dir, problem: "not a folder")
        }
        guard let walker = fm.enumerator(atPath: dir) else { throw AudioFileError(path: dir, problem: "cannot list") }
        var result: [NightClip] = []
        for case let rel as String in walker where rel.lowercased().hasSuffix(".wav") {
            let path = dir + "/" + rel
            let parts = path.split(separator: "/")
            let name = String(parts.last!)
            let parent = parts.count >= 2 ? String(parts[parts.count - 2]) : ""
            result.append(NightClip(path: path, group: parent + "/" + NightClip.group(ofFileName: name), cause: parent))
        }
        return result.sorted { $0.path < $1.path }
    }
}

/// `crymodel detect-set`: the detector's training set, augmented, with groups held out
/// for an evaluation night.
struct DetectionSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect-set",
        abstract: "Build the cry/other training set for `crymodel train --task detect` (augmented, at 8 kHz).",
        discussion: """
            Writes OUT/train/cry/<source>/*.wav and OUT/train/other/<source>/*.wav (<source>: the \
            name of the --cries/--others folder; `generated` for backgrounds): each clip --copies \
            times at a random level over generated room noise at a random SNR, plus --backgrounds \
            clips of noise alone (class other). File names keep the source recording as the group \
            (`<recording>_<n>.wav`), so the trainer's grouped split never splits a recording, and \
            the source folders let it spread every kind of sound over its parts. With --holdout \
            S, a share S of the recordings of each source folder is left out of train/ and linked \
            under OUT/heldout/{cries,others}/<folder>/ for `crymodel night`.
            """)

    @Option(name: .customLong("cries"), help: "Folder of cry clips (recursive; repeatable).") var cryDirectories: [String] = []
    @Option(name: .customLong("others"), help: "Folder of non-cry clips (recursive; repeatable).") var otherDirectories: [String] = []
    @Option(help: "Output folder.") var out: String
    @Option(help: "Augmented copies per clip.") var copies: Int = 2
    @Option(help: "Generated background-only clips (class other).") var backgrounds: Int = 80
    @Option(help: "Share of each folder's recordings held out for evaluation.") var holdout: Double = 0
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Sample rate in Hz (the model's analysis rate).") var rate: Int = 8000
    @Option(help: "Generated distractor clips per acoustic kind (tone, siren, pulsed, bell, music, speech, noise, impulsive; class other, source generated-<kind>).")
    var generated: Int = 0
    @Option(help: "Share of the other-class copies passed through AMR-NB and back (sox, libsox-fmt-all), as the Donate-a-Cry cries were.")
    var codecShare: Double = 0
    @Option(help: "Share of the cry copies through a random room and microphone (sox reverb, EQ, high-pass).")
    var roomShare: Double = 0
    @Option(help: "Share of the cry copies with random pitch (+-350 cents) and tempo (0.85-1.18) perturbation (sox).")
    var perturbShare: Double = 0

    func validate() throws {
        for (name, v) in [("--codec-share", codecShare), ("--room-share", roomShare), ("--perturb-share", perturbShare)] where !(0...1).contains(v) {
            throw ValidationError("\(name) \(v): must be in [0, 1]")
        }
        guard generated >= 0 else { throw ValidationError("--generated \(generated): must be >= 0") }
        guard !cryDirectories.isEmpty, !otherDirectories.isEmpty else { throw ValidationError("give --cries and --others folders") }
        guard copies >= 1 else { throw ValidationError("--copies \(copies): must be >= 1") }
        guard (0..<1).contains(holdout) else { throw ValidationError("--holdout \(holdout): must be in [0, 1)") }
    }

    func run() throws {
        var rng = SplitMix64(seed: seed)
        // Its own generator, so the held-out recordings depend on the seed alone (not on --copies).
        var holdoutRng = SplitMix64(seed: seed ^ 0x5EED_0F_4E1D)
        var builder = DetectionSetBuilder()
        builder.sampleRate = rate
        let fm = FileManager.default
        var counts = (cry: 0, other: 0, heldCries: 0, heldOthers: 0)
        // Channel effects draw from their own stream, so that a set without them is unchanged.
        var channelRng = SplitMix64(seed: seed ^ 0xC4A7_7E15)
        var channel: SoxChannel?
        if codecShare > 0 || roomShare > 0 || perturbShare > 0 || generated > 0 {
            if codecShare > 0 && !SoxChannel.amrAvailable() {
                throw fail("--codec-share: sox cannot write AMR-NB here (install the Debian package libsox-fmt-all)", code: SysExit.unavailable)
            }
            do { channel = try SoxChannel(rate: rate) } catch { throw fail("temporary folder: \(error)", code: SysExit.ioError) }
        }
        defer { channel?.cleanUp() }
        // A rebuilt set replaces the old one (never mixes two seeds).
        for dir in ["train", "heldout"] where fm.fileExists(atPath: out + "/" + dir) {
            do { try fm.removeItem(atPath: out + "/" + dir) } catch { throw fail("\(out)/\(dir): \(error)", code: SysExit.ioError) }
        }
        for (dirs, isCry) in [(cryDirectories, true), (otherDirectories, false)] {
            for dir in dirs {
                let source = ((dir as NSString).standardizingPath as NSString).lastPathComponent
                let clips: [NightClip]
                do { clips = try NightCommand.clips(in: dir) } catch let e as AudioFileError { throw fail(e.description, code: SysExit.ioError) }
                // Hold out whole recordings (the group without its folder: one baby across causes).
                let recording = { (c: NightClip) in String(c.group.split(separator: "/").last ?? "") }
                var groups = Array(Set(clips.map(recording))).sorted()
                groups.shuffle(using: &holdoutRng)
                let heldCount = holdout > 0 ? max(1, Int((holdout * Double(groups.count)).rounded())) : 0
                let held = Set(groups.prefix(heldCount))
                for (n, clip) in clips.enumerated() {
                    if held.contains(recording(clip)) {
                        let target = "\(out)/heldout/\(isCry ? "cries" : "others")/\(clip.cause)"
                        do {
                            try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
                            let abs = clip.path.hasPrefix("/") ? clip.path : fm.currentDirectoryPath + "/" + clip.path
                            try fm.createSymbolicLink(atPath: target + "/" + (clip.path as NSString).lastPathComponent, withDestinationPath: abs)
                        } catch { throw fail("\(target): \(error)", code: SysExit.ioError) }
                        if isCry { counts.heldCries += 1 } else { counts.heldOthers += 1 }
                        continue
                    }
                    let samples: [Float]
                    do { samples = try WAVReader.read(path: clip.path, sampleRate: rate).samples } catch {
                        throw fail("\(error)", code: SysExit.dataError)
                    }
                    // The recording alone (no cause folder): a baby with clips of several causes is one group.
                    let name = recording(clip)
                    for k in 0..<copies {
                        var sound = samples
                        if isCry, let fx = SoxChannel.cryEffects(perturb: perturbShare, room: roomShare, rate: rate, rng: &channelRng) {
                            do { sound = try channel!.apply(samples, effects: fx) } catch { throw fail("\(clip.path): sox: \(error)", code: SysExit.failure) }
                        }
                        var mixed = builder.augment(sound, rng: &rng)
                        if !isCry, channelRng.unit() < codecShare {
                            do { mixed = try channel!.amrNB(mixed) } catch { throw fail("\(clip.path): AMR-NB: \(error)", code: SysExit.failure) }
                        }
                        try write(mixed, class: isCry ? "cry" : "other", source: source, name: "\(name)_\(n * 100 + k)")
                    }
                    if isCry { counts.cry += copies } else { counts.other += copies }
                }
            }
        }
        if generated > 0 {
            // Generated distractors by acoustic kind (DistractorGenerator), each over room noise like
            // a recording, some through the codec; their own seed stream.
            let generator = DistractorGenerator(sampleRate: rate, speech: EspeakSpeech.provider(rate: rate))
            var genRng = SplitMix64(seed: seed ^ 0x6E4E_5A7E)
            for kind in DistractorKind.allCases {
                for i in 0..<generated {
                    let made: GeneratedSound?
                    do { made = try generator.make(kind, seconds: genRng.uniform(in: 2 ... 6), rng: &genRng) } catch {
                        throw fail("generated \(kind.rawValue): \(error)", code: SysExit.failure)
                    }
                    guard let made else { break }
                    var mixed = builder.augment(made.samples, rng: &rng)
                    if genRng.unit() < codecShare {
                        do { mixed = try channel!.amrNB(mixed) } catch { throw fail("generated: AMR-NB: \(error)", code: SysExit.failure) }
                    }
                    try write(mixed, class: "other", source: "generated-\(kind.rawValue)", name: "gen.\(kind.rawValue)\(i)_0")
                    counts.other += 1
                }
            }
        }
        for b in 0..<backgrounds {
            try write(builder.backgroundClip(rng: &rng), class: "other", source: "generated", name: "generated.noise\(b)_0")
            counts.other += 1
        }
        print("detect-set: \(counts.cry) cry and \(counts.other) other clips in \(out)/train"
              + (holdout > 0 ? "; held out \(counts.heldCries) cry and \(counts.heldOthers) other clips in \(out)/heldout" : ""))
    }

    func write(_ samples: [Float], class folder: String, source: String, name: String) throws {
        let dir = "\(out)/train/\(folder)/\(source)"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try WAVWriter.write(AudioBuffer(samples: samples, sampleRate: rate), to: "\(dir)/\(name).wav")
        } catch { throw fail("\(dir)/\(name).wav: \(error)", code: SysExit.ioError) }
    }
}
