import CALSA
import Foundation
import Testing
@testable import AudioIO

/// Capture through ALSA's `file` plugin: no sound card needed. The plugin reads a raw S16_LE
/// file as fast as asked and repeats its last chunk at the end, so the input is padded with
/// silence and the test stops at the known length.
@Suite struct AlsaCaptureTests {
    struct Fixture {
        let directory: String
        let samples: [Int16]
        let configuration: String

        /// `count` known samples (a ramp mixed with a tone, all distinct enough to catch
        /// dropped or repeated blocks), then `padding` zeros.
        init(count: Int, padding: Int = 8000, rate: Int = 16000) throws {
            directory = try makeTemporaryDirectory()
            samples = (0..<count).map { n in
                Int16(truncatingIfNeeded: (n * 7) % 20000 - 10000 + Int(3000 * sin(Double(n) * 0.3)))
            }
            var raw: [UInt8] = []
            raw.reserveCapacity(2 * (count + padding))
            for s in samples + [Int16](repeating: 0, count: padding) {
                appendLE(UInt64(UInt16(bitPattern: s)), 2, &raw)
            }
            let rawPath = directory + "/input.raw"
            try Data(raw).write(to: URL(fileURLWithPath: rawPath))
            configuration = """
            pcm.babymonitor_testraw {
                type file
                slave.pcm { type null }
                file "/dev/null"
                infile "\(rawPath)"
                format "raw"
            }
            pcm.babymonitor_testcap {
                type plug
                slave { pcm "babymonitor_testraw" rate \(rate) format S16_LE channels 1 }
            }
            """
        }

        /// Reads until `count` frames have arrived (or `limit` reads returned nothing).
        func capture(_ capture: AlsaCapture, count: Int, block: Int = 333) throws -> [Int16] {
            var out: [Int16] = []
            var buffer = [Int16](repeating: 0, count: block)
            var idle = 0
            while out.count < count && idle < 50 {
                let n = try buffer.withUnsafeMutableBufferPointer { try capture.read(into: $0, timeout: 100) }
                if n == 0 { idle += 1 }
                out.append(contentsOf: buffer[0..<n])
            }
            return Array(out.prefix(count))
        }
    }

    @Test func filePluginCapturesExactlyTheSamplesWritten() throws {
        let fixture = try Fixture(count: 12000)
        defer { removeDirectory(fixture.directory) }
        let capture = try AlsaCapture(pcm: "babymonitor_testcap", sampleRate: 16000, configuration: fixture.configuration)
        #expect(capture.sampleRate == 16000)
        #expect(capture.periodFrames > 0 && capture.periodFrames <= 640)
        #expect(capture.bufferFrames >= 2 * capture.periodFrames)
        let got = try fixture.capture(capture, count: fixture.samples.count)
        #expect(got.count == fixture.samples.count)
        let firstDifference = zip(got, fixture.samples).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil, "first differing sample at \(firstDifference ?? -1)")
        #expect(capture.overruns == 0)
        capture.close()
        var one: Int16 = 0
        #expect(throws: AlsaError.deviceLost(pcm: "babymonitor_testcap", code: -EBADFD, message: "capture is closed")) {
            try withUnsafeMutablePointer(to: &one) { try capture.read(into: UnsafeMutableBufferPointer(start: $0, count: 1)) }
        }
    }

    @Test func unknownPCMFailsToOpenNamingIt() throws {
        #expect(throws: AlsaError.openFailed(pcm: "babymonitor_nosuchpcm", code: -ENOENT, message: "No such file or directory")) {
            try AlsaCapture(pcm: "babymonitor_nosuchpcm", sampleRate: 16000)
        }
        let fixture = try Fixture(count: 10)
        defer { removeDirectory(fixture.directory) }
        do {
            _ = try AlsaCapture(pcm: "babymonitor_nosuchpcm", sampleRate: 16000, configuration: fixture.configuration)
            Issue.record("opened a PCM that does not exist")
        } catch let error as AlsaError {
            #expect(error.description.contains("'babymonitor_nosuchpcm'"), "\(error)")
        }
    }

    @Test func invalidConfigurationTextIsReported() {
        #expect(throws: AlsaError.self) {
            try AlsaCapture(pcm: "x", sampleRate: 16000, configuration: "pcm.broken { type file ")
        }
    }

    @Test func deviceWithoutS16SaysToUsePlug() throws {
        let configuration = "pcm.babymonitor_mulaw { type mulaw slave { pcm { type null } format S16_LE } }"
        do {
            _ = try AlsaCapture(pcm: "babymonitor_mulaw", sampleRate: 16000, configuration: configuration)
            Issue.record("a mu-law-only PCM accepted S16_LE")
        } catch let error as AlsaError {
            guard case .unsupportedConfiguration(let pcm, let message) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(pcm == "babymonitor_mulaw")
            #expect(message.contains("cannot capture S16_LE") && message.contains("plug"), "\(message)")
        }
        // Wrapped in a plug, the same device works.
        let plugged = configuration + "\npcm.babymonitor_plugmulaw { type plug slave.pcm babymonitor_mulaw }"
        let capture = try AlsaCapture(pcm: "babymonitor_plugmulaw", sampleRate: 16000, configuration: plugged)
        #expect(capture.sampleRate == 16000)
    }

    @Test func plugConvertsTheRate() throws {
        let fixture = try Fixture(count: 16000, rate: 16000)
        defer { removeDirectory(fixture.directory) }
        let capture = try AlsaCapture(pcm: "babymonitor_testcap", sampleRate: 8000, configuration: fixture.configuration)
        #expect(capture.sampleRate == 8000)
        #expect(capture.periodFrames > 0 && capture.periodFrames <= 320)
        let got = try fixture.capture(capture, count: 4000)
        #expect(got.count == 4000)
        #expect(got.contains { $0 != 0 })
    }

    #if DEBUG
    @Test func injectedOverrunIsRecoveredAndCounted() throws {
        let fixture = try Fixture(count: 6000)
        defer { removeDirectory(fixture.directory) }
        let capture = try AlsaCapture(pcm: "babymonitor_testcap", sampleRate: 16000, configuration: fixture.configuration)
        capture.faultPlan = try #require(AlsaFaultPlan("overrun@3, suspend@5"))
        let got = try fixture.capture(capture, count: 3000)
        #expect(got.count == 3000)
        #expect(capture.overruns == 2)
        // The samples after a recovery are still the file's, in order (a gap is allowed).
        let firstBlock = Array(got.prefix(333))
        #expect(firstBlock == Array(fixture.samples.prefix(333)))
    }

    @Test func injectedDeviceLossThrows() throws {
        let fixture = try Fixture(count: 2000)
        defer { removeDirectory(fixture.directory) }
        let capture = try AlsaCapture(pcm: "babymonitor_testcap", sampleRate: 16000, configuration: fixture.configuration)
        capture.faultPlan = try #require(AlsaFaultPlan("enodev@2"))
        var buffer = [Int16](repeating: 0, count: 100)
        #expect(try buffer.withUnsafeMutableBufferPointer { try capture.read(into: $0) } == 100)
        #expect(throws: AlsaError.deviceLost(pcm: "babymonitor_testcap", code: -ENODEV, message: "No such device")) {
            try buffer.withUnsafeMutableBufferPointer { try capture.read(into: $0) }
        }
    }

    @Test func endlessOverrunsCountAsDeviceLoss() throws {
        let fixture = try Fixture(count: 2000)
        defer { removeDirectory(fixture.directory) }
        let capture = try AlsaCapture(pcm: "babymonitor_testcap", sampleRate: 16000, configuration: fixture.configuration)
        capture.faultPlan = AlsaFaultPlan(faults: Dictionary(uniqueKeysWithValues: (1...20).map { ($0, -EPIPE) }))
        var buffer = [Int16](repeating: 0, count: 100)
        #expect(throws: AlsaError.self) { try buffer.withUnsafeMutableBufferPointer { try capture.read(into: $0) } }
        #expect(capture.overruns == 8)
    }

    @Test func faultPlanText() {
        #expect(AlsaFaultPlan("overrun@3,enodev@10") == AlsaFaultPlan(faults: [3: -EPIPE, 10: -ENODEV]))
        #expect(AlsaFaultPlan("overrun@0") == nil)
        #expect(AlsaFaultPlan("explode@3") == nil)
    }
    #endif
}
