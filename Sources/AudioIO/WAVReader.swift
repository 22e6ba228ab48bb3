/// Reads RIFF/WAVE files into mono `AudioBuffer`s.
///
/// Supported: PCM 8-bit unsigned, 16/24/32-bit signed integer, IEEE float 32/64-bit, plain or
/// WAVE_FORMAT_EXTENSIBLE with those subformats; 1 to 64 channels (mixed to mono by
/// averaging) and rates from 1 kHz to 768 kHz. Unknown chunks (LIST, fact, cue, ...) are skipped, odd
/// chunk sizes are padded as RIFF requires. Anything else is an `AudioFileError` that names
/// the file and the problem; no byte sequence makes the reader crash.
public enum WAVReader {
    /// The file at its own sample rate, mixed to mono.
    public static func read(path: String) throws -> AudioBuffer {
        // The header is checked before anything else is read, and only the data chunk's
        // frames are decoded (never the whole file in memory first).
        let reader = try WAVStreamReader(path: path)
        var samples = [Float](repeating: 0, count: reader.frameCount)
        let n = try samples.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
        if n < samples.count { samples.removeSubrange(n...) }
        return AudioBuffer(samples: samples, sampleRate: reader.sampleRate)
    }

    /// The file mixed to mono and resampled (libsoxr, high quality) to `sampleRate`.
    public static func read(path: String, sampleRate: Int) throws -> AudioBuffer {
        guard sampleRate > 0 else {
            throw AudioFileError(path: path, problem: "requested sample rate \(sampleRate) Hz is not positive")
        }
        let audio = try read(path: path)
        if audio.sampleRate == sampleRate { return audio }
        do {
            let samples = try Resampler.resample(audio.samples, from: audio.sampleRate, to: sampleRate)
            return AudioBuffer(samples: samples, sampleRate: sampleRate)
        } catch {
            throw AudioFileError(path: path,
                                 problem: "resampling \(audio.sampleRate) Hz -> \(sampleRate) Hz failed: \(error)")
        }
    }

    /// Decodes WAV bytes already in memory; `path` is only used in error messages.
    public static func decode(_ bytes: [UInt8], path: String) throws -> AudioBuffer {
        let layout = try WAVLayout(fileSize: bytes.count, path: path) { offset, count in
            Array(bytes[offset..<(offset + count)])
        }
        var samples = [Float](repeating: 0, count: layout.frameCount)
        try bytes.withUnsafeBytes { raw in
            let data = UnsafeRawBufferPointer(rebasing: raw[layout.dataOffset..<(layout.dataOffset + layout.frameCount * layout.blockAlign)])
            try samples.withUnsafeMutableBufferPointer { out in
                try mixToMono(data, layout: layout, firstFrame: 0, into: out, path: path)
            }
        }
        return AudioBuffer(samples: samples, sampleRate: layout.sampleRate)
    }

    /// mono[f] = (1/C) * sum_c x[f, c] / fullScale
    /// where fullScale is 128 (8-bit, offset 128), 2^15, 2^23, 2^31, or 1 for floats.
    /// `raw` holds whole frames from frame number `firstFrame` (for error messages) on;
    /// decodes min(frames in raw, out.count) of them.
    static func mixToMono(_ raw: UnsafeRawBufferPointer, layout: WAVLayout, firstFrame: Int,
                          into out: UnsafeMutableBufferPointer<Float>, path: String) throws {
        let channels = layout.channels
        let stride = layout.blockAlign
        let width = layout.encoding.bytesPerSample
        let frames = min(raw.count / stride, out.count)
        let inverseChannels = 1.0 / Double(channels)
        for f in 0..<frames {
            let frameStart = f * stride
            var sum = 0.0
            for c in 0..<channels {
                let at = frameStart + c * width
                switch layout.encoding {
                case .unsigned8:
                    sum += (Double(raw[at]) - 128) / 128
                case .signed16:
                    let v = Int16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int16.self))
                    sum += Double(v) / 32768
                case .signed24:
                    // Sign-extend by placing the 3 bytes in the top of an Int32.
                    let u = UInt32(raw[at]) << 8 | UInt32(raw[at + 1]) << 16 | UInt32(raw[at + 2]) << 24
                    sum += Double(Int32(bitPattern: u) >> 8) / 8_388_608
                case .signed32:
                    let v = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self))
                    sum += Double(v) / 2_147_483_648
                case .float32:
                    let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))
                    sum += Double(Float(bitPattern: bits))
                case .float64:
                    let bits = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                    sum += Double(bitPattern: bits)
                }
            }
            let mono = sum * inverseChannels
            guard mono.isFinite else {
                throw AudioFileError(path: path,
                                     problem: "sample at frame \(firstFrame + f) is not a finite number (NaN or infinity in float data)")
            }
            // 64-bit float data can hold finite values beyond Float's range (found by fuzz-wav).
            let sample = Float(mono)
            guard sample.isFinite else {
                throw AudioFileError(path: path,
                                     problem: "sample at frame \(firstFrame + f) is \(mono), beyond the 32-bit float range")
            }
            out[f] = sample
        }
    }
}

/// How samples are stored in the data chunk.
enum WAVSampleEncoding: Equatable, CustomStringConvertible {
    case unsigned8, signed16, signed24, signed32, float32, float64

    var bytesPerSample: Int {
        switch self {
        case .unsigned8: 1
        case .signed16: 2
        case .signed24: 3
        case .signed32, .float32: 4
        case .float64: 8
        }
    }

    var description: String {
        switch self {
        case .unsigned8: "8-bit unsigned PCM"
        case .signed16: "16-bit PCM"
        case .signed24: "24-bit PCM"
        case .signed32: "32-bit PCM"
        case .float32: "32-bit float"
        case .float64: "64-bit float"
        }
    }
}

/// The validated layout of a WAV file: where the frames are and how to read them.
struct WAVLayout {
    var encoding: WAVSampleEncoding
    var channels: Int
    var sampleRate: Int
    var blockAlign: Int
    var dataOffset: Int
    var frameCount: Int

    /// Plausible sample rates (telephone-band recordings to 768 kHz studio files) and
    /// channel counts (up to third-order ambisonics and beyond, not thousands).
    static let sampleRates = 1000...768_000
    static let maxChannels = 64

    static let formatPCM = 0x0001
    static let formatFloat = 0x0003
    static let formatExtensible = 0xFFFE

    /// The KSDATAFORMAT_SUBTYPE GUID after its first two bytes (the format code):
    /// xxxx0000-0000-0010-8000-00AA00389B71, stored little-endian.
    static let subformatGUIDTail: [UInt8] = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
                                             0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]

    /// Data sizes that mean "unknown length, read to the end of the file": 0xFFFFFFFF and
    /// 0x7FFFFFFF (ffmpeg, arecord and others writing to a pipe) and 0x7FFFF000 (sox).
    /// Any other size beyond the end of the file is a truncated file, an error.
    static let unknownLengthMarkers: Set<Int> = [0xFFFF_FFFF, 0x7FFF_FFFF, 0x7FFF_F000]

    /// Validates the header of a file of `fileSize` bytes; `fetch(offset, count)` returns
    /// bytes of the file, and is only asked for ranges inside it.
    init(fileSize: Int, path: String, fetch: (_ offset: Int, _ count: Int) throws -> [UInt8]) throws {
        func fail(_ problem: String) -> AudioFileError { AudioFileError(path: path, problem: problem) }

        if fileSize == 0 { throw fail("file is empty (0 bytes), not a WAV file") }
        guard fileSize >= 12 else {
            throw fail("file is \(fileSize) bytes, too short for a RIFF/WAVE header (12 bytes)")
        }
        let header = try fetch(0, 12)
        let riff = fourCC(header, 0)
        guard riff == "RIFF" else {
            if riff == "RIFX" { throw fail("big-endian RIFX files are not supported; convert to RIFF/WAVE") }
            if riff == "RF64" { throw fail("RF64 (64-bit WAV) files are not supported; convert to RIFF/WAVE") }
            throw fail("not a RIFF file (starts with \(quoted(riff)) instead of \"RIFF\")")
        }
        let wave = fourCC(header, 8)
        guard wave == "WAVE" else {
            throw fail("RIFF file of type \(quoted(wave)), not \"WAVE\"")
        }

        // Walk the chunks. The RIFF size field is often wrong in the wild: trust the file length.
        var fmtBody: [UInt8]?
        var fmtSize = 0
        var data: (offset: Int, size: Int)?
        var seen: [String] = []
        var trailers = 0
        var offset = 12
        while offset + 8 <= fileSize {
            let chunkHeader = try fetch(offset, 8)
            let id = fourCC(chunkHeader, 0)
            let size = u32(chunkHeader, 4)
            let body = offset + 8
            let available = fileSize - body
            if fmtBody != nil && data != nil {
                // Past the format and the data: later chunks (possibly damaged trailers) do
                // not matter, but a second format chunk makes the file ambiguous. At most
                // 64 trailing chunks are looked at.
                if id == "fmt " {
                    throw fail("second 'fmt ' chunk at byte \(offset): a WAV file has exactly one")
                }
                trailers += 1
                if size > available || trailers > 64 { break }
                offset = body + size + (size & 1)
                continue
            }
            seen.append(quoted(id))
            switch id {
            case "fmt ":
                guard size >= 16 else { throw fail("'fmt ' chunk is \(size) bytes; at least 16 are needed") }
                guard size <= available else {
                    throw fail("'fmt ' chunk declares \(size) bytes but only \(available) remain (file truncated)")
                }
                // Two format chunks contradict each other: which one is the audio in?
                guard fmtBody == nil else {
                    throw fail("second 'fmt ' chunk at byte \(offset): a WAV file has exactly one")
                }
                fmtBody = try fetch(body, min(size, 40))
                fmtSize = size
            case "data":
                if size > available, Self.unknownLengthMarkers.contains(size) {
                    // Written to a pipe (`arecord ... > x.wav` through a pipe, `sox ... -t wav -`):
                    // the writer could not seek back to fill in the size. The audio runs to the end.
                    if data == nil { data = (body, available) }
                    offset = fileSize   // the audio runs to the end: nothing follows
                    continue
                }
                guard size <= available else {
                    throw fail("data chunk declares \(size) bytes but only \(available) remain (file truncated)")
                }
                if data == nil { data = (body, size) }
            default:
                guard size <= available else {
                    throw fail("chunk \(quoted(id)) at byte \(offset) declares \(size) bytes but only \(available) remain (file truncated)")
                }
            }
            offset = body + size + (size & 1)
        }
        let chunkList = seen.isEmpty ? "none" : seen.joined(separator: ", ")
        guard let fmt = fmtBody else { throw fail("no 'fmt ' chunk (chunks found: \(chunkList))") }
        guard let data else { throw fail("no 'data' chunk (chunks found: \(chunkList))") }

        var tag = u16(fmt, 0)
        let channels = u16(fmt, 2)
        let sampleRate = u32(fmt, 4)
        let blockAlign = u16(fmt, 12)
        let bits = u16(fmt, 14)
        if tag == Self.formatExtensible {
            guard fmtSize >= 40 else {
                throw fail("WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is \(fmtSize) bytes; 40 are needed")
            }
            let validBits = u16(fmt, 18)
            guard validBits <= bits else {
                throw fail("\(validBits) valid bits per sample in a \(bits)-bit container")
            }
            let guid = 24
            guard Array(fmt[(guid + 2)..<(guid + 16)]) == Self.subformatGUIDTail else {
                throw fail("WAVE_FORMAT_EXTENSIBLE subformat \(guidText(fmt, guid)) is not a PCM or IEEE-float subtype")
            }
            tag = u16(fmt, guid)
        }
        guard tag == Self.formatPCM || tag == Self.formatFloat else {
            throw fail("format tag \(hex4(tag)) (\(formatName(tag))) is not supported; only uncompressed PCM and IEEE float are (convert with e.g. `sox IN -e signed -b 16 OUT.wav`)")
        }
        guard channels > 0 else { throw fail("channel count is 0") }
        guard channels <= Self.maxChannels else {
            throw fail("\(channels) channels; at most \(Self.maxChannels) are accepted")
        }
        guard sampleRate > 0 else { throw fail("sample rate is 0 Hz") }
        // Outside these, a header is damaged or hostile (1 Hz audio resampled to 16 kHz
        // would need 16000 output samples per input sample).
        guard Self.sampleRates.contains(sampleRate) else {
            throw fail("sample rate \(sampleRate) Hz is outside \(Self.sampleRates.lowerBound)...\(Self.sampleRates.upperBound) Hz")
        }

        let encoding: WAVSampleEncoding
        switch (tag, bits) {
        case (Self.formatPCM, 8): encoding = .unsigned8
        case (Self.formatPCM, 16): encoding = .signed16
        case (Self.formatPCM, 24): encoding = .signed24
        case (Self.formatPCM, 32): encoding = .signed32
        case (Self.formatFloat, 32): encoding = .float32
        case (Self.formatFloat, 64): encoding = .float64
        default:
            let kind = tag == Self.formatPCM ? "integer PCM" : "IEEE float"
            throw fail("\(bits) bits per sample is not supported for \(kind) (supported: PCM 8/16/24/32, float 32/64)")
        }
        let expectedAlign = channels * encoding.bytesPerSample
        guard blockAlign == expectedAlign else {
            throw fail("block align is \(blockAlign) bytes but \(channels) channel(s) of \(encoding) need \(expectedAlign)")
        }
        guard data.size > 0 else { throw fail("data chunk is empty (0 bytes of audio)") }
        let frames = data.size / blockAlign
        guard frames > 0 else {
            throw fail("data chunk holds \(data.size) bytes, less than one \(blockAlign)-byte frame")
        }
        // A trailing partial frame (a writer cut mid-frame) is dropped, not an error.
        self.encoding = encoding
        self.channels = channels
        self.sampleRate = sampleRate
        self.blockAlign = blockAlign
        self.dataOffset = data.offset
        self.frameCount = frames
    }
}

/// A four-character code for a message, with unprintable bytes shown as "?".
private func fourCC(_ bytes: [UInt8], _ at: Int) -> String {
    String(decoding: bytes[at..<(at + 4)], as: Unicode.ASCII.self)
        .unicodeScalars.map { (0x20...0x7E).contains($0.value) ? String($0) : "?" }.joined()
}

private func u16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
private func u32(_ bytes: [UInt8], _ at: Int) -> Int { u16(bytes, at) | u16(bytes, at + 2) << 16 }

private func quoted(_ id: String) -> String { "'\(id)'" }

private func hex4(_ value: Int) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

private func guidText(_ bytes: [UInt8], _ at: Int) -> String {
    func hex(_ range: Range<Int>, reversed: Bool) -> String {
        let part = reversed ? Array(bytes[range].reversed()) : Array(bytes[range])
        return part.map { b in (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true) }.joined()
    }
    return "{" + hex(at..<at + 4, reversed: true) + "-" + hex(at + 4..<at + 6, reversed: true) + "-"
        + hex(at + 6..<at + 8, reversed: true) + "-" + hex(at + 8..<at + 10, reversed: false) + "-"
        + hex(at + 10..<at + 16, reversed: false) + "}"
}

/// Names of the common non-PCM format tags, for error messages.
private func formatName(_ tag: Int) -> String {
    switch tag {
    case 0x0000: "unknown/invalid"
    case 0x0002: "Microsoft ADPCM"
    case 0x0006: "A-law"
    case 0x0007: "mu-law"
    case 0x0011: "IMA ADPCM"
    case 0x0022: "TrueSpeech"
    case 0x0031: "GSM 6.10"
    case 0x0040: "G.721 ADPCM"
    case 0x0050: "MPEG"
    case 0x0055: "MPEG Layer 3"
    case 0x0092: "Dolby AC-3 SPDIF"
    case 0x00FF: "AAC"
    case 0x0161, 0x0162, 0x0163: "Windows Media Audio"
    case 0x1610: "MPEG-4 AAC"
    case 0x2000: "AC-3"
    case 0xF1AC: "FLAC"
    default: "compressed or unknown encoding"
    }
}
