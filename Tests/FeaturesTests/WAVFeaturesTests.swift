import AudioIO
import Foundation
import Testing
import Features

@Suite("WAV files")
struct WAVFeaturesTests {
    @Test("a 16 kHz PCM16 WAV read at 8 kHz gives the tone's F0 and the expected frame count")
    func wavRoundTrip() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("features-\(getpid()).wav").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try WAVWriter.write(AudioBuffer(samples: Signal.tone(500, seconds: 0.5, rate: 16000), sampleRate: 16000), to: path)
        let audio = try WAVReader.read(path: path, sampleRate: 8000)
        #expect(audio.sampleRate == 8000)
        let m = FeatureExtractor.extract(audio.samples)
        #expect(m.frameCount == FrontEndConfig.standard.frameCount(sampleCount: audio.samples.count))
        #expect(m.frameCount >= 45)
        // Away from the resampler's start-up transient, F0 is the tone's.
        for t in 5..<(m.frameCount - 5) {
            #expect(abs(m[t][m[t].startIndex + column("f0")] - 500) < 10, "frame \(t)")
        }
    }
}
