import Foundation
import Testing
@testable import AudioIO

/// Inputs found by the libFuzzer targets (Fuzz/, scripts/fuzz), kept so the bugs stay fixed.
@Suite struct FuzzRegressionTests {
    /// 64-bit float WAV data holding a finite value beyond Float's range (|x| > 3.4e38).
    /// fuzz-wav found that it decoded to an infinite sample; it must be an error naming the frame.
    static func float64(_ values: [Double], channels: Int = 1) -> [UInt8] {
        var builder = WAVBuilder()
        builder.formatTag = 3
        builder.bitsPerSample = 64
        builder.channels = channels
        builder.sampleRate = 8000
        for v in values { appendLE(v.bitPattern, 8, &builder.data) }
        return builder.bytes()
    }

    @Test("a 64-bit float sample beyond Float's range is an error, not an infinite sample",
          arguments: [1e300, -8.46596979139252e+304, 3.5e38])
    func float64BeyondFloatRange(value: Double) throws {
        try WAVReaderTests.expectProblem(Self.float64([0.25, value]), "sample at frame 1 is")
        try WAVReaderTests.expectProblem(Self.float64([0.25, value]), "beyond the 32-bit float range")
    }

    @Test func float64BeyondFloatRangeInTheStreamReader() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/huge.wav"
        // Stereo: the mix (x + y) / 2 overflows Float even though it is a finite Double.
        try Data(Self.float64([0.5, 0.5, 7.9e239, 1.5e206], channels: 2)).write(to: URL(fileURLWithPath: path))
        let reader = try WAVStreamReader(path: path)
        var block = [Float](repeating: 0, count: 8)
        #expect(throws: AudioFileError.self) {
            _ = try block.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
        }
    }

    @Test func float64JustInsideFloatRangeStillDecodes() throws {
        let audio = try WAVReader.decode(Self.float64([0.25, 3.0e38]), path: "big.wav")
        #expect(audio.samples == [0.25, Float(3.0e38)])
    }
}
