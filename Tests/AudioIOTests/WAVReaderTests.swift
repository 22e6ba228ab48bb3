import Foundation
import Testing
@testable import AudioIO

@Suite struct WAVReaderTests {
    /// A short multi-channel test signal: channel c is a tone at 300*(c+1) Hz, scaled so
    /// that channels differ and the mono mix is not trivially zero.
    static func frames(channels: Int, count: Int, rate: Int) -> [[Float]] {
        (0..<count).map { (n: Int) -> [Float] in
            (0..<channels).map { (c: Int) -> Float in
                let k = Double(c + 1)
                let phase: Double = 2 * Double.pi * 300 * k * Double(n) / Double(rate)
                return Float(0.8 / k * sin(phase))
            }
        }
    }

    @Test("every supported encoding and channel count reads back, mixed to mono",
          arguments: TestEncoding.allCases, [1, 2, 3, 6])
    func roundTrip(encoding: TestEncoding, channels: Int) throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let rate = 22050
        let frames = Self.frames(channels: channels, count: 500, rate: rate)
        for extensible in [false, true] {
            let path = dir + "/\(encoding)-\(channels)ch-\(extensible ? "ext" : "plain").wav"
            try WAVBuilder(encoding: encoding, rate: rate, frames: frames, extensible: extensible).write(to: path)
            let audio = try WAVReader.read(path: path)
            #expect(audio.sampleRate == rate)
            try #require(audio.samples.count == frames.count)
            var worst: Float = 0
            for (n, frame) in frames.enumerated() {
                let expected = frame.reduce(0, +) / Float(channels)
                worst = max(worst, abs(audio.samples[n] - expected))
            }
            #expect(worst <= encoding.tolerance, "\(path): worst error \(worst)")
        }
    }

    @Test func stereoIsAveraged() throws {
        var builder = WAVBuilder()
        builder.channels = 2
        // Left 0.5, right -0.25 -> 0.125; left 1.0 (clipped to 32767), right 0 -> ~0.5.
        for (l, r) in [(16384, -8192), (32767, 0), (-32768, -32768)] as [(Int16, Int16)] {
            appendLE(UInt64(UInt16(bitPattern: l)), 2, &builder.data)
            appendLE(UInt64(UInt16(bitPattern: r)), 2, &builder.data)
        }
        let audio = try WAVReader.decode(builder.bytes(), path: "stereo.wav")
        #expect(audio.samples == [0.125, Float(32767.0 / 65536.0), -1])
    }

    @Test func writerRoundTripClipsAndKeepsRate() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/written.wav"
        let input = AudioBuffer(samples: [0, 0.5, -0.5, 1, -1, 2, -3, .nan, 1e-6], sampleRate: 8000)
        try WAVWriter.write(input, to: path)
        let back = try WAVReader.read(path: path)
        #expect(back.sampleRate == 8000)
        let expected: [Float] = [0, 0.5, -0.5, 1, -1, 1, -1, 0, 0].map { ($0 * 32767).rounded() / 32768 }
        #expect(back.samples == expected)
                let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.count == 44 + 2 * input.samples.count)
        let nowhere = dir + "/no-such-dir/x.wav"
        #expect(throws: AudioFileError(path: nowhere, problem: "cannot create: No such file or directory")) {
            try WAVWriter.write(input, to: nowhere)
        }
        #expect(throws: AudioFileError.self) { try WAVWriter.write(AudioBuffer(samples: [0], sampleRate: 0), to: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["written.wav"])
    }

    @Test func unknownChunksAndOddPaddingAreSkipped() throws {
        var builder = WAVBuilder(encoding: .s16, rate: 8000, frames: [[0.25], [-0.25], [0.5]])
        builder.chunksBeforeFormat = [("JUNK", [1, 2, 3])]               // odd: padded
        builder.chunksBeforeData = [("LIST", Array("INFOISFT\u{5}\0\0\0Lavf\0".utf8)), ("fact", [3, 0, 0, 0])]
        var bytes = builder.bytes()
        bytes.append(contentsOf: Array("id3 ".utf8) + [0xFF, 0xFF, 0, 0])  // damaged trailer: ignored
        let audio = try WAVReader.decode(bytes, path: "chunks.wav")
        #expect(audio.samples == [0.25, -0.25, 0.5])
    }

    @Test func partialTrailingFrameIsDropped() throws {
        var builder = WAVBuilder(encoding: .s16, rate: 8000, frames: [[0.25, 0.25], [0.5, 0.5]])
        builder.data.append(contentsOf: [1, 2, 3])
        let audio = try WAVReader.decode(builder.bytes(), path: "partial.wav")
        #expect(audio.samples == [0.25, 0.5])
    }

    // MARK: Malformed input: each case names the file and the precise problem.

    static func expectProblem(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/broken.wav"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            let audio = try WAVReader.read(path: path)
            Issue.record("expected an error containing \"\(fragment)\", read \(audio.samples.count) samples",
                         sourceLocation: sourceLocation)
        } catch let error as AudioFileError {
            #expect(error.path == path, sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix(path + ": "), sourceLocation: sourceLocation)
            #expect(error.problem.contains(fragment), "\(error)", sourceLocation: sourceLocation)
        }
    }

    static let valid = WAVBuilder(encoding: .s16, rate: 16000, frames: [[0.1], [0.2], [0.3], [0.4]])

    @Test func emptyFile() throws { try Self.expectProblem([], "file is empty") }

    @Test func truncatedHeader() throws {
        try Self.expectProblem(Array(Self.valid.bytes().prefix(8)), "too short for a RIFF/WAVE header")
        // Cut inside the fmt chunk.
        try Self.expectProblem(Array(Self.valid.bytes().prefix(30)), "'fmt ' chunk declares 16 bytes but only 10 remain (file truncated)")
    }

    @Test func truncatedData() throws {
        try Self.expectProblem(Array(Self.valid.bytes().dropLast(3)), "data chunk declares 8 bytes but only 5 remain (file truncated)")
        var builder = Self.valid
        builder.declaredDataSize = 0x7FFF_FFFE
        try Self.expectProblem(builder.bytes(), "data chunk declares 2147483646 bytes but only 8 remain (file truncated)")
    }

    /// A WAV written to a pipe carries an "unknown length" marker as its data size: the
    /// audio runs to the end of the file (a trailing partial frame dropped, as always).
    @Test func unknownLengthDataRunsToTheEndOfTheFile() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        for marker in [0xFFFF_FFFF, 0x7FFF_FFFF, 0x7FFF_F000] {
            var builder = Self.valid
            builder.declaredDataSize = marker
            let path = dir + "/pipe.wav"
            try Data(builder.bytes() + [0x01]).write(to: URL(fileURLWithPath: path))
            let audio = try WAVReader.read(path: path)
            #expect(audio.sampleRate == 16000)
            #expect(audio.samples.count == 4)
            #expect(abs(audio.samples[3] - 0.4) < 1e-4)
            #expect(try WAVStreamReader(path: path).frameCount == 4)
        }
    }

    @Test func notRIFF() throws {
        try Self.expectProblem(Array("ID3\u{4}\0\0\0\0\0\0\0\0\0\0\0\0".utf8), "not a RIFF file (starts with 'ID3?'")
        var bytes = Self.valid.bytes()
        bytes.replaceSubrange(8..<12, with: Array("AVI ".utf8))
        try Self.expectProblem(bytes, "RIFF file of type 'AVI ', not \"WAVE\"")
    }

    @Test func compressedFormats() throws {
        for (tag, name) in [(7, "0x0007 (mu-law)"), (2, "0x0002 (Microsoft ADPCM)"), (6, "0x0006 (A-law)"), (0x55, "0x0055 (MPEG Layer 3)")] {
            var builder = Self.valid
            builder.formatTag = tag
            builder.bitsPerSample = 8
            try Self.expectProblem(builder.bytes(), "format tag \(name) is not supported")
        }
        var builder = Self.valid
        builder.extensible = true
        builder.extensibleSubformat = 2
        try Self.expectProblem(builder.bytes(), "format tag 0x0002 (Microsoft ADPCM) is not supported")
        var guid = Self.valid.bytes()
        builder.extensibleSubformat = 1
        guid = builder.bytes()
        guid[12 + 8 + 24 + 15] = 0x00   // corrupt the GUID's last byte
        try Self.expectProblem(guid, "subformat {00000001-0000-0010-8000-00AA00389B00} is not a PCM or IEEE-float subtype")
    }

    @Test func zeroLengthData() throws {
        var builder = Self.valid
        builder.data = []
        try Self.expectProblem(builder.bytes(), "data chunk is empty (0 bytes of audio)")
        builder.data = [1]
        try Self.expectProblem(builder.bytes(), "data chunk holds 1 bytes, less than one 2-byte frame")
    }

    @Test func zeroChannelsAndZeroRate() throws {
        var builder = Self.valid
        builder.channels = 0
        builder.blockAlign = 2
        try Self.expectProblem(builder.bytes(), "channel count is 0")
        builder = Self.valid
        builder.sampleRate = 0
        try Self.expectProblem(builder.bytes(), "sample rate is 0 Hz")
    }

    @Test func badBlockAlignAndBits() throws {
        var builder = Self.valid
        builder.blockAlign = 3
        try Self.expectProblem(builder.bytes(), "block align is 3 bytes but 1 channel(s) of 16-bit PCM need 2")
        builder = Self.valid
        builder.bitsPerSample = 12
        builder.blockAlign = 2
        try Self.expectProblem(builder.bytes(), "12 bits per sample is not supported for integer PCM")
        builder = Self.valid
        builder.formatTag = 3
        try Self.expectProblem(builder.bytes(), "16 bits per sample is not supported for IEEE float")
    }

    @Test func missingChunks() throws {
        var builder = Self.valid
        builder.includeFormat = false
        try Self.expectProblem(builder.bytes(), "no 'fmt ' chunk (chunks found: 'data')")
        builder = Self.valid
        builder.includeData = false
        builder.chunksBeforeData = [("LIST", [0, 0])]
        try Self.expectProblem(builder.bytes(), "no 'data' chunk (chunks found: 'fmt ', 'LIST')")
        try Self.expectProblem(Array("RIFF\u{4}\0\0\0WAVE".utf8), "no 'fmt ' chunk (chunks found: none)")
    }

    @Test func nonFiniteFloatSamples() throws {
        let builder = WAVBuilder(encoding: .f32, rate: 8000, frames: [[0.5], [.infinity]])
        try Self.expectProblem(builder.bytes(), "sample at frame 1 is not a finite number")
    }

    @Test func missingFileAndDirectory() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/nothing-here.wav"
        #expect(throws: AudioFileError(path: path, problem: "cannot open: No such file or directory")) {
            try WAVReader.read(path: path)
        }
        #expect(throws: AudioFileError(path: dir, problem: "is a directory, not a WAV file")) {
            try WAVReader.read(path: dir)
        }
    }

    /// Random bytes, truncations and byte flips of valid files: errors, never a crash.
    @Test func arbitraryBytesNeverCrash() throws {
        var rng = SplitMix64(seed: 42)
        var seeds: [[UInt8]] = []
        for encoding in TestEncoding.allCases {
            for extensible in [false, true] {
                seeds.append(WAVBuilder(encoding: encoding, rate: 8000, frames: Self.frames(channels: 2, count: 6, rate: 8000),
                                        extensible: extensible).bytes())
            }
        }
        var decoded = 0, rejected = 0
        for seed in seeds {
            for cut in 0...seed.count {
                if (try? WAVReader.decode(Array(seed.prefix(cut)), path: "cut.wav")) != nil { decoded += 1 } else { rejected += 1 }
            }
            for _ in 0..<300 {
                var bytes = seed
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                if (try? WAVReader.decode(bytes, path: "flip.wav")) != nil { decoded += 1 } else { rejected += 1 }
            }
        }
        for _ in 0..<500 {
            var bytes = Array("RIFF\0\0\0\0WAVE".utf8)
            for _ in 0..<Int.random(in: 0...80, using: &rng) { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
            if (try? WAVReader.decode(bytes, path: "noise.wav")) != nil { decoded += 1 } else { rejected += 1 }
        }
        #expect(decoded > 0 && rejected > 0)
    }

    // MARK: Real files

    @Test(.enabled(if: SharedData.directory != nil, Comment(rawValue: SharedData.absentMessage)))
    func realCorpusFiles() throws {
        let cries = SharedData.files(in: "donateacry/hungry", limit: 3)
        let esc = SharedData.files(in: "esc10/baby_cry", limit: 3)
        try #require(!cries.isEmpty && !esc.isEmpty, "expected WAV files under \(SharedData.directory ?? "?")")
        for path in cries {
            let audio = try WAVReader.read(path: path)
            #expect(audio.sampleRate == 8000, "\(path)")
            #expect(audio.samples.count > 8000, "\(path)")
            let up = try WAVReader.read(path: path, sampleRate: 16000)
            #expect(abs(up.samples.count - 2 * audio.samples.count) <= 2, "\(path)")
        }
        for path in esc {
            let audio = try WAVReader.read(path: path)
            #expect(audio.sampleRate == 16000, "\(path)")
            #expect(abs(audio.samples.count - 80000) < 800, "\(path): about 5 s expected")
            #expect(audio.samples.contains { $0 != 0 }, "\(path)")
        }
    }
}

@Suite struct WAVStreamReaderTests {
    @Test func streamEqualsWholeFileReadForEveryEncoding() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        var rng = SplitMix64(seed: 3)
        for encoding in TestEncoding.allCases {
            for channels in [1, 2, 5] {
                let path = dir + "/\(encoding)-\(channels).wav"
                var builder = WAVBuilder(encoding: encoding, rate: 11025,
                                         frames: WAVReaderTests.frames(channels: channels, count: 9000, rate: 11025))
                builder.chunksBeforeData = [("LIST", [1, 2, 3, 4, 5])]
                try builder.write(to: path)
                let whole = try WAVReader.read(path: path)
                let stream = try WAVStreamReader(path: path)
                #expect(stream.sampleRate == 11025 && stream.channels == channels && stream.frameCount == 9000)
                var streamed: [Float] = []
                var block = [Float](repeating: 0, count: 5000)
                while true {
                    let want = Int.random(in: 1...5000, using: &rng)
                    let n = try block.withUnsafeMutableBufferPointer {
                        try stream.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<want]))
                    }
                    if n == 0 { break }
                    streamed.append(contentsOf: block[0..<n])
                }
                #expect(streamed == whole.samples, "\(path)")
                stream.rewind()
                let again = try block.withUnsafeMutableBufferPointer { try stream.read(into: $0) }
                #expect(again == 5000 && Array(block.prefix(10)) == Array(whole.samples.prefix(10)))
            }
        }
    }

    @Test func streamRejectsWhatTheReaderRejects() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        var builder = WAVReaderTests.valid
        builder.declaredDataSize = 100
        let cases: [(bytes: [UInt8], problem: String)] = [
            ([], "file is empty"),
            (builder.bytes(), "data chunk declares 100 bytes but only 8 remain (file truncated)"),
            (Array(WAVReaderTests.valid.bytes().prefix(30)), "'fmt ' chunk declares 16 bytes but only 10 remain"),
        ]
        for (index, item) in cases.enumerated() {
            let path = dir + "/bad\(index).wav"
            try Data(item.bytes).write(to: URL(fileURLWithPath: path))
            do {
                _ = try WAVStreamReader(path: path)
                Issue.record("\(path) opened")
            } catch let error as AudioFileError {
                #expect(error.path == path && error.problem.contains(item.problem), "\(error)")
            }
        }
        #expect(throws: AudioFileError(path: dir + "/missing.wav", problem: "cannot open: No such file or directory")) {
            try WAVStreamReader(path: dir + "/missing.wav")
        }
    }
}
