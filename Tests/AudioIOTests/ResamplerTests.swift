import Foundation
import Testing
@testable import AudioIO

@Suite struct ResamplerTests {
    /// Sign changes over the middle of a signal, away from filter edge effects.
    static func zeroCrossingsPerSecond(_ x: [Float], rate: Int) -> Double {
        let start = x.count / 8, end = x.count - x.count / 8
        var crossings = 0
        for n in (start + 1)..<end where (x[n - 1] < 0) != (x[n] < 0) { crossings += 1 }
        return Double(crossings) * Double(rate) / Double(end - start - 1)
    }

    /// |X(f)|^2 over the middle of a signal (Goertzel):
    /// s[n] = x[n] + 2 cos(w) s[n-1] - s[n-2];  P = s1^2 + s2^2 - 2 cos(w) s1 s2
    static func goertzelPower(_ x: [Float], rate: Int, frequency: Double) -> Double {
        let w = 2 * Double.pi * frequency / Double(rate), coefficient = 2 * cos(w)
        var s1 = 0.0, s2 = 0.0
        let middle = x[(x.count / 8)..<(x.count - x.count / 8)]
        for v in middle { (s1, s2) = (Double(v) + coefficient * s1 - s2, s1) }
        let n = Double(middle.count)
        return (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / (n * n)
    }

    @Test("a 1 kHz tone keeps its frequency, level and length", arguments: [16000, 44100, 8000, 11025])
    func toneKeepsFrequency(inputRate: Int) throws {
        let outputRate = inputRate == 8000 ? 16000 : 8000
        let input = tone(frequency: 1000, rate: inputRate, count: inputRate / 2)
        let output = try Resampler.resample(input, from: inputRate, to: outputRate)
        let expectedCount = Double(input.count) * Double(outputRate) / Double(inputRate)
        #expect(abs(Double(output.count) - expectedCount) <= 2, "\(output.count) vs \(expectedCount)")
        #expect(abs(Self.zeroCrossingsPerSecond(output, rate: outputRate) - 2000) < 10)
        // Amplitude 0.5 -> power at 1 kHz (0.5/2)^2; nothing at 1.5 kHz.
        let atTone = Self.goertzelPower(output, rate: outputRate, frequency: 1000)
        let offTone = Self.goertzelPower(output, rate: outputRate, frequency: 1500)
        #expect(abs(atTone - 0.0625) < 0.003, "power at 1 kHz \(atTone)")
        #expect(offTone < 1e-4 * atTone, "power at 1.5 kHz \(offTone)")
        // soxr is linear phase with its delay compensated: the tone is where it was in time.
        let reference = tone(frequency: 1000, rate: outputRate, count: output.count)
        let middle = (output.count / 4)..<(3 * output.count / 4)
        let worst = middle.map { abs(output[$0] - reference[$0]) }.max() ?? 0
        #expect(worst < 0.01, "largest deviation from an ideal tone \(worst)")
    }

    @Test func streamingWithRandomBlocksMatchesOneShot() throws {
        var rng = SplitMix64(seed: 7)
        for (from, to) in [(16000, 8000), (44100, 8000), (8000, 16000), (48000, 16000)] {
            let input = (0..<(from / 3)).map { n in
                0.3 * sin(Float(n) * 0.05) + Float.random(in: -0.2...0.2, using: &rng)
            }
            let oneShot = try Resampler.resample(input, from: from, to: to)
            let resampler = try Resampler(inputRate: from, outputRate: to)
            var streamed: [Float] = []
            var position = 0
            var sawDelay = false
            while position < input.count {
                let count = min(input.count - position, Int.random(in: 0...700, using: &rng))
                try input.withUnsafeBufferPointer { all in
                    try resampler.process(UnsafeBufferPointer(rebasing: all[position..<(position + count)]), into: &streamed)
                }
                position += count
                if streamed.count < position * to / from { sawDelay = true }
            }
            #expect(sawDelay, "soxr holds output back until flushed")
            try resampler.flush(into: &streamed)
            try #require(streamed.count == oneShot.count, "\(from)->\(to): \(streamed.count) vs \(oneShot.count)")
            let worst = zip(streamed, oneShot).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-5, "\(from)->\(to): worst difference \(worst)")

            // reset() starts a fresh stream with the same result.
            try resampler.reset()
            var again: [Float] = []
            try input.withUnsafeBufferPointer { try resampler.process($0, into: &again) }
            try resampler.flush(into: &again)
            #expect(again == oneShot)
        }
    }

    @Test func badRatesAndMisuse() throws {
        #expect(throws: ResamplerError.self) { try Resampler(inputRate: 0, outputRate: 8000) }
        #expect(throws: ResamplerError.self) { try Resampler.resample([1, 2], from: 8000, to: -1) }
        let resampler = try Resampler(inputRate: 16000, outputRate: 8000)
        var out: [Float] = []
        try resampler.flush(into: &out)
        #expect(out.isEmpty)
        #expect(throws: ResamplerError.self) {
            try [Float](repeating: 0, count: 10).withUnsafeBufferPointer { try resampler.process($0, into: &out) }
        }
        #expect(try Resampler.resample([], from: 16000, to: 8000).isEmpty)
        #expect(try Resampler.resample([0.5, 0.25], from: 8000, to: 8000) == [0.5, 0.25])
    }

    @Test func readerResamplesToRequestedRate() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/tone44k.wav"
        try WAVWriter.write(AudioBuffer(samples: tone(frequency: 1000, rate: 44100, count: 22050), sampleRate: 44100), to: path)
        let audio = try WAVReader.read(path: path, sampleRate: 8000)
        #expect(audio.sampleRate == 8000)
        #expect(abs(audio.samples.count - 4000) <= 2)
        #expect(abs(Self.zeroCrossingsPerSecond(audio.samples, rate: 8000) - 2000) < 10)
        #expect(throws: AudioFileError(path: path, problem: "requested sample rate 0 Hz is not positive")) {
            try WAVReader.read(path: path, sampleRate: 0)
        }
    }
}
