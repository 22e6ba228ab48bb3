#if canImport(Glibc)
import Glibc
#endif
import AudioIO

/// libFuzzer entry point: the bytes as a WAV file, through both readers (the whole-file
/// `WAVReader.decode` and the streaming `WAVStreamReader`, which reads the same bytes from a
/// file). A thrown `AudioFileError` is the expected answer to garbage; a trap, crash or
/// sanitizer report is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWAV(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    let decoded = try? WAVReader.decode(bytes, path: "<fuzz>")
    if let audio = decoded {
        // A decoder that lies about its output shows up here (or under ASan).
        precondition(audio.sampleRate > 0 && !audio.samples.isEmpty && audio.samples.allSatisfy(\.isFinite))
    }
    streamThroughFile(bytes, expected: decoded)
    if let audio = decoded {
        // What `WAVReader.read(path:sampleRate:)` does next: any header rate -> the models' 8 kHz
        // (libsoxr at extreme ratios). Bounded so that a 1 Hz header is not an out-of-memory.
        let outputCount = Double(audio.samples.count) * 8000 / Double(audio.sampleRate)
        if outputCount < 1_000_000, let out = try? Resampler.resample(audio.samples, from: audio.sampleRate, to: 8000) {
            precondition(Double(out.count) < outputCount + 1000, "resampler made \(out.count) samples, expected ~\(outputCount)")
        }
    }
    return 0
}

/// The stream reader works on paths: write the input to one scratch file per process.
private let scratchPath = "/tmp/babymonitor-fuzz-wav-\(getpid()).wav"

private func streamThroughFile(_ bytes: [UInt8], expected: AudioBuffer?) {
    guard let file = fopen(scratchPath, "wb") else { fatalError("cannot create \(scratchPath)") }
    if !bytes.isEmpty { precondition(fwrite(bytes, 1, bytes.count, file) == bytes.count) }
    fclose(file)
    defer { unlink(scratchPath) }  // the open reader keeps its descriptor
    guard let reader = try? WAVStreamReader(path: scratchPath) else {
        // The stream reader may only refuse what the whole-file reader refuses too.
        precondition(expected == nil, "WAVStreamReader refused a file WAVReader decoded")
        return
    }
    var samples: [Float] = []
    var block = [Float](repeating: .nan, count: 97)  // odd size: blocks straddle frames
    while true {
        let n = block.withUnsafeMutableBufferPointer { try? reader.read(into: $0) }
        guard let n, n > 0 else { break }
        precondition(n <= block.count)
        samples += block[0..<n]
    }
    if let expected, samples.count == reader.frameCount {
        precondition(samples == expected.samples, "the two readers disagree")
    }
}

// MARK: - Seeds

/// `fuzz-wav -seeds DIR` is handled by scripts/fuzz before fuzzing: libFuzzer calls this
/// first, and we write valid WAVs of every supported layout there and exit.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    guard let directory = getenv("BABYMONITOR_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    for (name, bytes) in wavSeeds() {
        let path = directory + "/" + name
        guard let file = fopen(path, "wb") else { fatalError("cannot create \(path)") }
        precondition(fwrite(bytes, 1, bytes.count, file) == bytes.count)
        fclose(file)
    }
    exit(0)
}

/// Little-endian byte writer for hand-made RIFF files.
private struct Bytes {
    var data: [UInt8] = []
    mutating func ascii(_ s: String) { data += Array(s.utf8) }
    mutating func u16(_ v: Int) { data += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    mutating func u32(_ v: Int) { u16(v & 0xFFFF); u16(v >> 16 & 0xFFFF) }
    mutating func chunk(_ id: String, _ body: [UInt8]) {
        ascii(id); u32(body.count); data += body
        if body.count & 1 == 1 { data.append(0) }
    }
}

private enum Encoding { case pcm(bits: Int), float(bits: Int) }

/// A short tone (frames x channels) in the given encoding, as a complete WAV file.
private func wav(_ encoding: Encoding, channels: Int, rate: Int, frames: Int,
                 extensible: Bool = false, extraChunk: (String, [UInt8])? = nil) -> [UInt8] {
    let (tag, bits) = switch encoding { case .pcm(let b): (1, b); case .float(let b): (3, b) }
    let width = bits / 8
    var samples = Bytes()
    for f in 0..<frames {
        for c in 0..<channels {
            let x = 0.5 * sin(Double(f) * 0.3 + Double(c))
            switch encoding {
            case .pcm(8): samples.data.append(UInt8(128 + Int(x * 127)))
            case .pcm(16): samples.u16(Int(Int16(x * 32767)) & 0xFFFF)
            case .pcm(24):
                let v = Int(x * 8_388_607) & 0xFF_FFFF
                samples.data += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF)]
            case .pcm(_): samples.u32(Int(Int32(x * 2_147_483_647)) & 0xFFFF_FFFF)
            case .float(32): samples.u32(Int(Float(x).bitPattern))
            case .float(_):
                let b = Double(x).bitPattern
                samples.u32(Int(b & 0xFFFF_FFFF)); samples.u32(Int(b >> 32))
            }
        }
    }
    var fmt = Bytes()
    fmt.u16(extensible ? 0xFFFE : tag)
    fmt.u16(channels); fmt.u32(rate); fmt.u32(rate * channels * width)
    fmt.u16(channels * width); fmt.u16(bits)
    if extensible {
        fmt.u16(22); fmt.u16(bits); fmt.u32(channels == 1 ? 4 : 3)  // cbSize, valid bits, mask
        fmt.u16(tag)
        fmt.data += [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
    }
    var body = Bytes()
    body.ascii("WAVE")
    body.chunk("fmt ", fmt.data)
    if let (id, extra) = extraChunk { body.chunk(id, extra) }
    body.chunk("data", samples.data)
    var file = Bytes()
    file.chunk("RIFF", body.data)
    return file.data
}

private func wavSeeds() -> [(String, [UInt8])] {
    [
        ("pcm8-mono-8k.wav", wav(.pcm(bits: 8), channels: 1, rate: 8000, frames: 40)),
        ("pcm16-mono-8k.wav", wav(.pcm(bits: 16), channels: 1, rate: 8000, frames: 40)),
        ("pcm16-stereo-44k.wav", wav(.pcm(bits: 16), channels: 2, rate: 44_100, frames: 33)),
        ("pcm24-mono-16k.wav", wav(.pcm(bits: 24), channels: 1, rate: 16_000, frames: 31)),
        ("pcm32-3ch-48k.wav", wav(.pcm(bits: 32), channels: 3, rate: 48_000, frames: 20)),
        ("float32-mono-22k.wav", wav(.float(bits: 32), channels: 1, rate: 22_050, frames: 25)),
        ("float64-stereo-8k.wav", wav(.float(bits: 64), channels: 2, rate: 8000, frames: 15)),
        ("ext-pcm16-stereo.wav", wav(.pcm(bits: 16), channels: 2, rate: 16_000, frames: 21, extensible: true)),
        ("ext-float32-mono.wav", wav(.float(bits: 32), channels: 1, rate: 8000, frames: 19, extensible: true)),
        ("list-odd-chunk.wav", wav(.pcm(bits: 16), channels: 1, rate: 8000, frames: 17,
                                   extraChunk: ("LIST", Array("INFOISFT\u{5}\0\0\0babym".utf8)))),
        ("truncated-data.wav", Array(wav(.pcm(bits: 24), channels: 2, rate: 8000, frames: 9).dropLast(2))),
    ]
}
