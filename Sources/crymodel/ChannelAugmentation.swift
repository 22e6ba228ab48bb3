import AudioIO
import CryDetector
import CryModel
import CryTraining
import Foundation

/// The recording channel made useless as a cue (docs/detector.md, "Channel-proof training"):
/// sox runs the effects, in a private temporary folder.
///   - `amrNB`: encode to AMR-NB (12.2 kbit/s; sox's libopencore-amrnb, package
///     libsox-fmt-all) and decode back: the Donate-a-Cry cries' channel, given to negatives.
///   - `room`: pitch and tempo perturbation, reverberation, a peaking EQ and a high-pass (a
///     room and a microphone), given to positives (the room effects are
///     `CryAugmentation.roomEffects`, which also perturbs the cause model's training cries).
struct SoxChannel {
    let rate: Int
    let dir: String
    private var counter = 0

    init(rate: Int) throws {
        self.rate = rate
        dir = NSTemporaryDirectory() + "crymodel-channel-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: dir) }

    /// Whether sox can write AMR-NB here.
    static func amrAvailable() -> Bool {
        guard let out = try? SoxChannel.capture(["sox", "--help-format", "amr-nb"]) else { return false }
        return out.contains("amr-nb")
    }

    static func capture(_ argv: [String]) throws -> String { try SoxProcess.capture(argv) }

    static func run(_ argv: [String]) throws { try SoxProcess.run(argv) }

    /// The clip through AMR-NB and back, same length.
    mutating func amrNB(_ clip: [Float]) throws -> [Float] {
        counter += 1
        let wav = "\(dir)/in\(counter).wav", amr = "\(dir)/c\(counter).amr", back = "\(dir)/out\(counter).wav"
        defer { for f in [wav, amr, back] { try? FileManager.default.removeItem(atPath: f) } }
        try WAVWriter.write(AudioBuffer(samples: clip, sampleRate: rate), to: wav)
        try Self.run(["sox", "-q", wav, "-r", "8000", "-t", "amr-nb", "-C", "7", amr])
        try Self.run(["sox", "-q", amr, "-r", "\(rate)", "-b", "16", back])
        var out = try WAVReader.read(path: back, sampleRate: rate).samples
        if out.count > clip.count { out.removeLast(out.count - clip.count) }
        if out.count < clip.count { out += [Float](repeating: 0, count: clip.count - out.count) }
        return out
    }

    /// Random sox effects for a cry: pitch/tempo with probability `perturb`, room and microphone
    /// with probability `room`. Nil when neither was drawn (the clip is used as it is).
    static func cryEffects(perturb: Double, room: Double, rate: Int, rng: inout SplitMix64) -> [String]? {
        var fx: [String] = []
        if rng.unit() < perturb {
            fx += ["pitch", String(Int(rng.uniform(in: -350 ... 350))), "tempo", String(format: "%.3f", rng.uniform(in: 0.85 ... 1.18))]
        }
        if rng.unit() < room { fx += CryAugmentation.roomEffects(rate: rate, rng: &rng) }
        return fx.isEmpty ? nil : fx
    }

    /// The clip through sox `effects` (length may change with tempo and reverb tails).
    mutating func apply(_ clip: [Float], effects: [String]) throws -> [Float] {
        counter += 1
        let wav = "\(dir)/in\(counter).wav", back = "\(dir)/out\(counter).wav"
        defer { for f in [wav, back] { try? FileManager.default.removeItem(atPath: f) } }
        try WAVWriter.write(AudioBuffer(samples: clip, sampleRate: rate), to: wav)
        try Self.run(["sox", "-q", "-G", wav, "-b", "16", back] + effects)
        return try WAVReader.read(path: back, sampleRate: rate).samples
    }
}

/// espeak-ng as the generator's speech provider (nil, with a message, when it is absent).
enum EspeakSpeech {
    static func provider(rate: Int) -> (@Sendable (SpeechRequest) throws -> [Float])? {
        guard (try? SoxChannel.capture(["espeak-ng", "--version"]))?.contains("eSpeak") == true else {
            FileHandleStderr.write("generated speech: espeak-ng is not installed (Debian package espeak-ng); the speech kind is skipped\n")
            return nil
        }
        return { request in
            let path = NSTemporaryDirectory() + "crymodel-speech-\(getpid())-\(UInt64.random(in: 0 ... .max)).wav"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try SoxChannel.run(["espeak-ng", "-v", request.voice, "-p", "\(request.pitch)", "-s", "\(request.wordsPerMinute)",
                                "-w", path, request.text])
            return try WAVReader.read(path: path, sampleRate: rate).samples
        }
    }
}
