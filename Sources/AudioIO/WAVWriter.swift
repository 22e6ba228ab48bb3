/// Writes mono 16-bit PCM WAV files.
public enum WAVWriter {
    /// Writes `audio` as PCM16 mono: x16 = round(clamp(x, -1, 1) * 32767); NaN becomes 0.
    /// The file appears atomically (temporary sibling, then rename).
    public static func write(_ audio: AudioBuffer, to path: String) throws {
        try FileBytes.writeAll(encode(audio, path: path), to: path)
    }

    /// The WAV file bytes for `audio`; `path` is only used in error messages.
    public static func encode(_ audio: AudioBuffer, path: String = "<memory>") throws -> [UInt8] {
        guard audio.sampleRate > 0, audio.sampleRate <= Int(UInt32.max) / 2 else {
            throw AudioFileError(path: path, problem: "cannot write sample rate \(audio.sampleRate) Hz")
        }
        let dataBytes = audio.samples.count * 2
        guard dataBytes <= Int(UInt32.max) - 36 else {
            throw AudioFileError(path: path, problem: "\(audio.samples.count) samples are too many for one WAV file (4 GiB limit)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(44 + dataBytes)
        func ascii(_ text: String) { bytes.append(contentsOf: Array(text.utf8)) }
        func u16(_ v: Int) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8((v >> 8) & 0xFF)) }
        func u32(_ v: Int) { u16(v & 0xFFFF); u16((v >> 16) & 0xFFFF) }
        ascii("RIFF"); u32(36 + dataBytes); ascii("WAVE")
        ascii("fmt "); u32(16)
        u16(1)                       // PCM
        u16(1)                       // mono
        u32(audio.sampleRate)
        u32(audio.sampleRate * 2)    // byte rate
        u16(2)                       // block align
        u16(16)                      // bits per sample
        ascii("data"); u32(dataBytes)
        for x in audio.samples {
            let clipped = x.isNaN ? 0 : min(max(x, -1), 1)
            let v = Int16((clipped * 32767).rounded())
            u16(Int(UInt16(bitPattern: v)))
        }
        return bytes
    }
}
