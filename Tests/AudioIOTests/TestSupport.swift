import Foundation
@testable import AudioIO

/// A fresh temporary directory per test (generated audio is never committed).
func makeTemporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("audioio-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeDirectory(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

/// Deterministic random numbers (SplitMix64), so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// x[n] = amplitude * sin(2 pi f n / rate)
func tone(frequency: Double, rate: Int, count: Int, amplitude: Double = 0.5, phase: Double = 0) -> [Float] {
    (0..<count).map { Float(amplitude * sin(2 * Double.pi * frequency * Double($0) / Double(rate) + phase)) }
}

/// The sample encodings a test WAV can hold, with the exact quantisation the reader inverts.
enum TestEncoding: CaseIterable, CustomStringConvertible {
    case u8, s16, s24, s32, f32, f64

    var bits: Int {
        switch self {
        case .u8: 8
        case .s16: 16
        case .s24: 24
        case .s32, .f32: 32
        case .f64: 64
        }
    }
    var formatTag: Int { (self == .f32 || self == .f64) ? 3 : 1 }
    /// Largest reconstruction error of one sample.
    var tolerance: Float {
        switch self {
        case .u8: 1.0 / 128
        case .s16: 1.0 / 32768
        case .s24: 1.0 / 8_388_608 + 1e-7
        case .s32, .f32, .f64: 1e-6
        }
    }
    var description: String { "\(self == .u8 ? "PCM u8" : formatTag == 3 ? "float\(bits)" : "PCM s\(bits)")" }

    func append(_ x: Float, to bytes: inout [UInt8]) {
        let c = Double(min(max(x, -1), 1))
        switch self {
        case .u8:
            bytes.append(UInt8(max(0, min(255, (c * 128).rounded() + 128))))
        case .s16:
            appendLE(UInt64(UInt16(bitPattern: Int16(max(-32768, min(32767, (c * 32768).rounded()))))), 2, &bytes)
        case .s24:
            let v = Int32(max(-8_388_608, min(8_388_607, (c * 8_388_608).rounded())))
            appendLE(UInt64(UInt32(bitPattern: v)), 3, &bytes)
        case .s32:
            let v = Int32(max(-2_147_483_648, min(2_147_483_647, (c * 2_147_483_648).rounded())))
            appendLE(UInt64(UInt32(bitPattern: v)), 4, &bytes)
        case .f32:
            appendLE(UInt64(x.bitPattern), 4, &bytes)
        case .f64:
            appendLE(Double(x).bitPattern, 8, &bytes)
        }
    }
}

func appendLE(_ value: UInt64, _ count: Int, _ bytes: inout [UInt8]) {
    for i in 0..<count { bytes.append(UInt8((value >> (8 * UInt64(i))) & 0xFF)) }
}

/// Builds WAV files byte by byte, with every field overridable so that tests can break them.
struct WAVBuilder {
    var formatTag = 1
    var channels = 1
    var sampleRate = 16000
    var bitsPerSample = 16
    var blockAlign: Int? = nil
    var extensible = false
    var extensibleSubformat = 1
    var chunksBeforeFormat: [(id: String, body: [UInt8])] = []
    var chunksBeforeData: [(id: String, body: [UInt8])] = []
    var includeFormat = true
    var includeData = true
    var declaredDataSize: Int? = nil
    var data: [UInt8] = []

    init() {}

    /// A valid file holding `frames[f][c]` in `encoding`.
    init(encoding: TestEncoding, rate: Int, frames: [[Float]], extensible: Bool = false) {
        let channels = frames.first?.count ?? 1
        self.formatTag = encoding.formatTag
        self.channels = channels
        self.sampleRate = rate
        self.bitsPerSample = encoding.bits
        self.extensible = extensible
        self.extensibleSubformat = encoding.formatTag
        for frame in frames { for x in frame { encoding.append(x, to: &data) } }
    }

    func bytes() -> [UInt8] {
        var body: [UInt8] = Array("WAVE".utf8)
        func chunk(_ id: String, _ content: [UInt8]) {
            body.append(contentsOf: Array(id.utf8))
            appendLE(UInt64(content.count), 4, &body)
            body.append(contentsOf: content)
            if content.count % 2 == 1 { body.append(0) }  // RIFF pads odd chunks
        }
        var fmt: [UInt8] = []
        appendLE(UInt64(extensible ? 0xFFFE : formatTag), 2, &fmt)
        appendLE(UInt64(channels), 2, &fmt)
        appendLE(UInt64(sampleRate), 4, &fmt)
        let align = blockAlign ?? channels * bitsPerSample / 8
        appendLE(UInt64(sampleRate * align), 4, &fmt)
        appendLE(UInt64(align), 2, &fmt)
        appendLE(UInt64(bitsPerSample), 2, &fmt)
        if extensible {
            appendLE(22, 2, &fmt)                       // cbSize
            appendLE(UInt64(bitsPerSample), 2, &fmt)    // valid bits
            appendLE(channels == 2 ? 3 : 0, 4, &fmt)    // channel mask
            appendLE(UInt64(extensibleSubformat), 2, &fmt)
            fmt.append(contentsOf: [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])
        }
        for c in chunksBeforeFormat { chunk(c.id, c.body) }
        if includeFormat { chunk("fmt ", fmt) }
        for c in chunksBeforeData { chunk(c.id, c.body) }
        if includeData {
            // Written by hand: a declared size beyond the body describes a truncated file.
            body.append(contentsOf: Array("data".utf8))
            appendLE(UInt64(declaredDataSize ?? data.count), 4, &body)
            body.append(contentsOf: data)
        }
        var out: [UInt8] = Array("RIFF".utf8)
        appendLE(UInt64(body.count), 4, &out)
        out.append(contentsOf: body)
        return out
    }

    func write(to path: String) throws {
        try Data(bytes()).write(to: URL(fileURLWithPath: path))
    }
}

/// `<package root>/../shared/data`, or $BABYMONITOR_DATA (worktrees live one level deeper).
enum SharedData {
    static let directory: String? = {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["BABYMONITOR_DATA"] { candidates.append(env) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.deletingLastPathComponent().appendingPathComponent("shared/data").path)
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/README.md") }
    }()

    static let absentMessage = "shared audio data not found at <package root>/../shared/data (or $BABYMONITOR_DATA); skipping real-file tests"

    /// The first few WAV files (sorted) in a folder under the data directory.
    static func files(in folder: String, limit: Int) -> [String] {
        guard let directory else { return [] }
        let path = directory + "/" + folder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".wav") }.sorted().prefix(limit).map { path + "/" + $0 }
    }
}
