import AudioIO

extension AudioBackends {
    /// The real ones: ALSA capture and WAV replay from AudioIO.
    public static let audioIO = AudioBackends(
        openCapture: { pcm, rate, periodMs in
            try AlsaCaptureDevice(capture: AlsaCapture(pcm: pcm, sampleRate: rate, periodMilliseconds: periodMs))
        },
        openReplay: { path, rate in try WAVReplaySource(path: path, sampleRate: rate) })
}

/// AlsaCapture (S16_LE) as a `CaptureDevice` of Float samples; used by the capture thread only.
final class AlsaCaptureDevice: CaptureDevice {
    private let capture: AlsaCapture
    private var scratch: [Int16]

    init(capture: AlsaCapture) {
        self.capture = capture
        scratch = [Int16](repeating: 0, count: max(capture.periodFrames, 64))
    }

    func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int {
        let want = min(buffer.count, scratch.count)
        let n = try scratch.withUnsafeMutableBufferPointer {
            try capture.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<want]), timeout: 500)
        }
        for i in 0..<n { buffer[i] = Float(scratch[i]) * (1.0 / 32768.0) }
        return n
    }

    var xruns: Int { capture.overruns }

    func close() { capture.close() }
}

/// A WAV file read block by block, mixed to mono, resampled (libsoxr) to the analysis rate
/// when the file has another.
final class WAVReplaySource: ReplaySource {
    private let reader: WAVStreamReader
    private let resampler: Resampler?
    private var raw = [Float](repeating: 0, count: 4096)
    private var pending: [Float] = []
    private var pendingStart = 0
    private var flushed = false
    private var inputEnded = false

    /// Input samples fed to the resampler at a time: about 4096 output samples' worth, so
    /// that memory does not grow with the rate ratio (one input block at 8 kHz -> 768 kHz
    /// would be 96 output blocks).
    private let feedFrames: Int

    init(path: String, sampleRate: Int) throws {
        reader = try WAVStreamReader(path: path)
        resampler = reader.sampleRate == sampleRate ? nil : try Resampler(inputRate: reader.sampleRate, outputRate: sampleRate)
        feedFrames = max(16, min(raw.count, raw.count * reader.sampleRate / max(1, sampleRate)))
        pending.reserveCapacity(16384)
    }

    /// Resampled samples held for the next reads (tests check it stays small).
    var heldSamples: Int { pending.count - pendingStart }

    func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int {
        guard let resampler else { return try reader.read(into: buffer) }
        while pending.count - pendingStart < buffer.count && !flushed {
            if pendingStart > 0 {
                pending.removeFirst(pendingStart)
                pendingStart = 0
            }
            if inputEnded {
                // The held-back tail, a block at a time (it is long at a high ratio).
                flushed = try resampler.drain(into: &pending)
                continue
            }
            let n = try raw.withUnsafeMutableBufferPointer { try reader.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<feedFrames])) }
            if n == 0 {
                inputEnded = true
            } else {
                try raw.withUnsafeBufferPointer { try resampler.process(UnsafeBufferPointer(rebasing: $0[0..<n]), into: &pending) }
            }
        }
        let n = min(buffer.count, pending.count - pendingStart)
        for i in 0..<n { buffer[i] = pending[pendingStart + i] }
        pendingStart += n
        return n
    }
}
