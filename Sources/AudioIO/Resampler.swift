import CSoxr

/// A sample-rate conversion problem (bad rates, or libsoxr reporting an error).
public struct ResamplerError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Streaming mono sample-rate conversion with libsoxr (high quality: 20-bit, linear phase,
/// float32 in and out).
///
/// Latency: soxr holds back output while its filter fills (tens of samples up to a few
/// hundred, depending on the ratio), so `process` returns fewer samples than
/// n * outputRate / inputRate at first. `flush` drains what is held back; after it the total
/// output length is n * outputRate / inputRate rounded (within a sample). Call `flush` once
/// at the end of a stream, then `reset` before a new stream.
///
/// Not thread-safe: one stream, one thread at a time. Calls do not allocate apart from
/// growing the caller's output array.
public final class Resampler {
    public let inputRate: Int
    public let outputRate: Int
    private let soxr: soxr_t
    /// Output staging area reused by every call; soxr writes here, we append to the caller.
    private let scratch: UnsafeMutableBufferPointer<Float>
    private var flushed = false
    private var drained = false

    public init(inputRate: Int, outputRate: Int) throws {
        guard inputRate > 0, outputRate > 0 else {
            throw ResamplerError("sample rates must be positive (asked \(inputRate) Hz -> \(outputRate) Hz)")
        }
        if let problem = soxrLibraryProblem {
            throw ResamplerError("resampling \(inputRate) Hz -> \(outputRate) Hz needs libsoxr (Debian: libsoxr0): \(problem)")
        }
        self.inputRate = inputRate
        self.outputRate = outputRate
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        var error: soxr_error_t?
        let handle = soxr_create(Double(inputRate), Double(outputRate), 1, &error, &io, &quality, nil)
        guard let handle, error == nil else {
            if let handle { soxr_delete(handle) }
            throw ResamplerError("libsoxr cannot resample \(inputRate) Hz -> \(outputRate) Hz: \(Self.text(error))")
        }
        soxr = handle
        scratch = .allocate(capacity: 4096)
    }

    deinit {
        soxr_delete(soxr)
        scratch.deallocate()
    }

    /// Feeds `input` and appends whatever output soxr releases to `output`.
    public func process(_ input: UnsafeBufferPointer<Float>, into output: inout [Float]) throws {
        guard !flushed else { throw ResamplerError("Resampler.process called after flush; call reset() first") }
        guard let base = input.baseAddress, !input.isEmpty else { return }
        var consumed = 0
        // Loop: soxr may take only part of the input when the scratch output fills up.
        while consumed < input.count {
            var inputDone = 0
            var outputDone = 0
            let error = soxr_process(soxr, base + consumed, input.count - consumed, &inputDone,
                                     scratch.baseAddress, scratch.count, &outputDone)
            if let error { throw ResamplerError("libsoxr: \(Self.text(error))") }
            consumed += inputDone
            output.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<outputDone]))
            if inputDone == 0 && outputDone == 0 {  // not expected from soxr; never spin
                throw ResamplerError("libsoxr made no progress with \(input.count - consumed) samples left")
            }
        }
    }

    /// Ends the stream: appends the output soxr still holds back.
    public func flush(into output: inout [Float]) throws {
        while try !drain(into: &output) {}
    }

    /// One step of `flush`: appends at most one staging block (4096 samples) of the output
    /// held back; true once nothing is left. For streams that must not hold the whole tail
    /// at once (at a high ratio it is many blocks long).
    public func drain(into output: inout [Float]) throws -> Bool {
        if flushed && drained { return true }
        flushed = true
        var outputDone = 0
        // A nil input tells soxr the input has ended.
        let error = soxr_process(soxr, nil, 0, nil, scratch.baseAddress, scratch.count, &outputDone)
        if let error { throw ResamplerError("libsoxr: \(Self.text(error))") }
        if outputDone == 0 { drained = true; return true }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<outputDone]))
        return false
    }

    /// Forgets the current stream (and its held-back output); ready for a new one.
    public func reset() throws {
        if let error = soxr_clear(soxr) { throw ResamplerError("libsoxr: \(Self.text(error))") }
        flushed = false
        drained = false
    }

    /// Output samples currently held back inside soxr.
    public var delay: Double { soxr_delay(soxr) }

    /// Converts a whole signal (process + flush).
    public static func resample(_ samples: [Float], from inputRate: Int, to outputRate: Int) throws -> [Float] {
        if inputRate == outputRate && inputRate > 0 { return samples }
        let resampler = try Resampler(inputRate: inputRate, outputRate: outputRate)
        var output: [Float] = []
        output.reserveCapacity(Int((Double(samples.count) * Double(outputRate) / Double(inputRate)).rounded(.up)) + 16)
        try samples.withUnsafeBufferPointer { try resampler.process($0, into: &output) }
        try resampler.flush(into: &output)
        return output
    }

    private static func text(_ error: soxr_error_t?) -> String {
        guard let error else { return "unknown error" }
        return String(cString: error)
    }
}

/// libsoxr is loaded on the first resampler, not linked: babymonitord capturing at the
/// models' rate never maps it nor libgomp (issue 15). nil, or why it cannot be loaded.
private let soxrLibraryProblem: String? = {
    var error = [CChar](repeating: 0, count: 512)
    guard babymonitor_soxr_load(&error, error.count) != 0 else { return nil }
    return error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}()
