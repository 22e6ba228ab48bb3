import Foundation
import Testing
@testable import AudioIO

/// Issue 16 item 3: WAV headers an adversarial probe found accepted.
@Suite struct WAVHardeningTests {
    static let frames: [[Float]] = [[0.1], [0.2], [0.3], [0.4]]

    @Test("implausible sample rates are refused", arguments: [1, 999, 768_001, 4_000_000])
    func implausibleRates(rate: Int) throws {
        let builder = WAVBuilder(encoding: .s16, rate: rate, frames: Self.frames)
        try WAVReaderTests.expectProblem(builder.bytes(), "sample rate \(rate) Hz is outside 1000...768000 Hz")
    }

    @Test("the plausible extremes are accepted", arguments: [1000, 768_000])
    func plausibleExtremes(rate: Int) throws {
        let audio = try WAVReader.decode(WAVBuilder(encoding: .s16, rate: rate, frames: Self.frames).bytes(), path: "ok.wav")
        #expect(audio.sampleRate == rate && audio.samples.count == 4)
    }

    @Test func twoFormatChunksAreRefused() throws {
        var builder = WAVBuilder(encoding: .s16, rate: 8000, frames: Self.frames)
        var other: [UInt8] = []
        appendLE(1, 2, &other); appendLE(1, 2, &other); appendLE(1, 4, &other); appendLE(2, 4, &other)
        appendLE(2, 2, &other); appendLE(16, 2, &other)
        builder.chunksBeforeData = [("fmt ", other)]
        try WAVReaderTests.expectProblem(builder.bytes(), "second 'fmt ' chunk")
        // After the data chunk, too.
        var trailing = WAVBuilder(encoding: .s16, rate: 8000, frames: Self.frames).bytes()
        trailing += Array("fmt ".utf8)
        appendLE(UInt64(other.count), 4, &trailing)
        trailing += other
        try WAVReaderTests.expectProblem(trailing, "second 'fmt ' chunk")
    }

    @Test func validBitsAboveTheContainerAreRefused() throws {
        var bytes = WAVBuilder(encoding: .s16, rate: 8000, frames: Self.frames, extensible: true).bytes()
        // fmt body starts at 20; valid bits at body offset 18.
        bytes[20 + 18] = 24
        try WAVReaderTests.expectProblem(bytes, "24 valid bits per sample in a 16-bit container")
    }

    @Test func thousandsOfChannelsAreRefused() throws {
        var builder = WAVBuilder()
        builder.channels = 4000
        builder.sampleRate = 8000
        builder.data = [UInt8](repeating: 0, count: 4000 * 2 * 2)
        try WAVReaderTests.expectProblem(builder.bytes(), "4000 channels; at most 64 are accepted")
    }

    @Test func devicesAndFIFOsAreRefusedWithoutReading() throws {
        #expect(throws: AudioFileError(path: "/dev/zero", problem: "is a character device, not a regular file (a WAV file must be one)")) {
            try WAVReader.read(path: "/dev/zero")
        }
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        mkfifo(dir + "/f.wav", 0o600)
        #expect(throws: AudioFileError(path: dir + "/f.wav", problem: "is a FIFO (named pipe), not a regular file (a WAV file must be one)")) {
            try WAVStreamReader(path: dir + "/f.wav")
        }
    }
}
