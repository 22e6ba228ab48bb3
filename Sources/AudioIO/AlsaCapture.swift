import CALSA
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What went wrong with an ALSA capture device.
public enum AlsaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The ALSA configuration text given to `AlsaCapture` does not parse.
    case configurationInvalid(message: String)
    /// `snd_pcm_open` failed (e.g. -2 "No such file or directory" for an unknown PCM name).
    case openFailed(pcm: String, code: Int32, message: String)
    /// The device cannot capture S16_LE mono at the rate (and no plug: layer converts for it).
    case unsupportedConfiguration(pcm: String, message: String)
    /// Capture stopped for good (unplugged: -ENODEV, or an unrecoverable error). Reopen to go on.
    case deviceLost(pcm: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case .configurationInvalid(let message):
            "ALSA configuration text is invalid: \(message)"
        case .openFailed(let pcm, let code, let message):
            "cannot open ALSA capture PCM '\(pcm)': \(message) (\(code))"
        case .unsupportedConfiguration(let pcm, let message):
            "ALSA PCM '\(pcm)': \(message)"
        case .deviceLost(let pcm, let code, let message):
            "ALSA PCM '\(pcm)' lost: \(message) (\(code))"
        }
    }
}

/// Live capture from an ALSA PCM as S16_LE mono at a fixed rate.
///
/// Periods are about 20 ms, the buffer holds several; `read` waits at most `timeout`
/// milliseconds for data, so the capture loop can notice a stop request. Overruns (-EPIPE)
/// and suspends (-ESTRPIPE) are recovered inside `read` and counted in `overruns`: the
/// stream goes on with a gap. A lost device throws `AlsaError.deviceLost`.
///
/// `@unchecked Sendable`: the PCM handle has no internal locking, so an instance must be used
/// by one thread at a time. It may be opened on one thread and handed to the capture thread
/// (ALSA handles can move between threads); after that only the capture thread touches it,
/// including `overruns` (copy it out to share it).
public final class AlsaCapture: @unchecked Sendable {
    public let pcmName: String
    /// The rate the device delivers; always the requested rate (anything else is an error).
    public let sampleRate: Int
    /// Frames per ALSA period (about 20 ms) and per ring buffer, as the device granted them.
    public let periodFrames: Int
    public let bufferFrames: Int
    /// Overruns and suspends recovered so far.
    public private(set) var overruns: Int = 0

    private var pcm: OpaquePointer?
    private var localConfiguration: OpaquePointer?
    private var readCalls = 0

    #if DEBUG
    /// Debug builds only: errors that replace the result of chosen `snd_pcm_readi` calls, so
    /// tests can drive the recovery paths. The first capture opened in a process takes its
    /// plan from the environment, e.g. `BABYMONITOR_FAULT_INJECT=overrun@50,enodev@200`.
    public var faultPlan: AlsaFaultPlan
    #endif

    /// Opens `pcm` (e.g. "default", "plughw:1,0", or a name defined in `configuration`) for
    /// capture at `sampleRate`.
    /// - Parameter configuration: ALSA configuration text loaded on top of the system
    ///   configuration for this open only (tests use it to define a `file`-plugin PCM).
    public init(pcm: String, sampleRate: Int, configuration: String? = nil,
                periodMilliseconds: Int = 20, periodsPerBuffer: Int = 8) throws {
        pcmName = pcm
        // ALSA prints its own diagnostics to stderr; our errors carry the same facts.
        let previousHandler = snd_lib_error_set_local(quietAlsaErrors)
        defer { snd_lib_error_set_local(previousHandler) }
        guard sampleRate > 0, periodMilliseconds > 0, periodsPerBuffer >= 2 else {
            throw AlsaError.unsupportedConfiguration(pcm: pcm, message:
                "invalid request: \(sampleRate) Hz, \(periodMilliseconds) ms periods, \(periodsPerBuffer) periods per buffer")
        }

        var handle: OpaquePointer?
        var code: Int32
        if let configuration {
            let tree = try Self.loadConfiguration(configuration)
            localConfiguration = tree
            code = snd_pcm_open_lconf(&handle, pcm, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK, tree)
        } else {
            code = snd_pcm_open(&handle, pcm, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK)
        }
        guard code >= 0, let handle else {
            if let tree = localConfiguration { snd_config_delete(tree) }
            throw AlsaError.openFailed(pcm: pcm, code: code, message: alsaText(code))
        }
        self.pcm = handle

        do {
            (self.sampleRate, periodFrames, bufferFrames) = try Self.configure(
                handle, pcm: pcm, rate: sampleRate,
                periodFrames: max(1, sampleRate * periodMilliseconds / 1000), periods: periodsPerBuffer)
        } catch {
            snd_pcm_close(handle)
            if let tree = localConfiguration { snd_config_delete(tree) }
            throw error
        }
        #if DEBUG
        faultPlan = AlsaFaultPlan.takeEnvironmentPlan()
        #endif
    }

    deinit { close() }

    /// Releases the device. Further reads throw `deviceLost`.
    public func close() {
        if let pcm { snd_pcm_close(pcm) }
        if let localConfiguration { snd_config_delete(localConfiguration) }
        pcm = nil
        localConfiguration = nil
    }

    /// Reads up to `buffer.count` frames, waiting at most `timeout` ms (-1: no limit) for the
    /// first ones. Returns the number of frames read: 0 on timeout (or a signal), otherwise
    /// what was available, possibly fewer than asked: call again for more.
    /// Does not allocate.
    public func read(into buffer: UnsafeMutableBufferPointer<Int16>, timeout: Int32 = 500) throws -> Int {
        guard let pcm else {
            throw AlsaError.deviceLost(pcm: pcmName, code: -EBADFD, message: "capture is closed")
        }
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        let previousHandler = snd_lib_error_set_local(quietAlsaErrors)
        defer { snd_lib_error_set_local(previousHandler) }
        var waited = false
        var recoveries = 0
        while true {
            readCalls += 1
            var result: Int
            #if DEBUG
            if let injected = faultPlan.fault(atCall: readCalls) {
                result = Int(injected)
            } else {
                result = snd_pcm_readi(pcm, base, snd_pcm_uframes_t(buffer.count))
            }
            #else
            result = snd_pcm_readi(pcm, base, snd_pcm_uframes_t(buffer.count))
            #endif
            if result > 0 { return result }
            let code = Int32(clamping: result)
            switch code {
            case 0, -EAGAIN:
                // Nothing yet: wait once for a period, then report a timeout as 0 frames.
                if waited { return 0 }
                waited = true
                let ready = snd_pcm_wait(pcm, timeout)
                if ready == 0 || ready == -EINTR { return 0 }
                if ready < 0 { try recover(pcm, ready, attempt: &recoveries) }
            case -EINTR:
                continue
            default:
                try recover(pcm, code, attempt: &recoveries)
            }
        }
    }

    /// Overrun (-EPIPE) or suspend (-ESTRPIPE): prepare the stream again and count it;
    /// anything else, or a failed recovery, is a lost device.
    private func recover(_ pcm: OpaquePointer, _ code: Int32, attempt: inout Int) throws {
        guard code == -EPIPE || code == -ESTRPIPE else {
            throw AlsaError.deviceLost(pcm: pcmName, code: code, message: alsaText(code))
        }
        // A device that overruns again straight after every recovery is as good as lost.
        attempt += 1
        guard attempt <= 8 else {
            throw AlsaError.deviceLost(pcm: pcmName, code: code, message: "\(alsaText(code)) again after \(attempt - 1) recoveries")
        }
        let recovered = snd_pcm_recover(pcm, code, 1)
        guard recovered >= 0 else {
            throw AlsaError.deviceLost(pcm: pcmName, code: recovered,
                                       message: "recovery from \(alsaText(code)) failed: \(alsaText(recovered))")
        }
        overruns += 1
    }

    /// The system configuration (when there is one) with `text` loaded on top.
    private static func loadConfiguration(_ text: String) throws -> OpaquePointer {
        var tree: OpaquePointer?
        var system: OpaquePointer?
        if snd_config_update_ref(&system) >= 0, let system {
            defer { snd_config_unref(system) }
            if snd_config_copy(&tree, system) < 0 { tree = nil }
        }
        if tree == nil {
            let code = snd_config_top(&tree)
            guard code >= 0 else { throw AlsaError.configurationInvalid(message: alsaText(code)) }
        }
        guard let tree else { throw AlsaError.configurationInvalid(message: "cannot create a configuration tree") }
        var input: OpaquePointer?
        let utf8 = Array(text.utf8)
        let opened = utf8.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { snd_input_buffer_open(&input, $0.baseAddress, bytes.count) }
        }
        guard opened >= 0, let input else {
            snd_config_delete(tree)
            throw AlsaError.configurationInvalid(message: alsaText(opened))
        }
        // snd_input_buffer_open copies the text, so `utf8` need not outlive this call.
        let loaded = snd_config_load(tree, input)
        snd_input_close(input)
        guard loaded >= 0 else {
            snd_config_delete(tree)
            throw AlsaError.configurationInvalid(message: alsaText(loaded))
        }
        return tree
    }

    /// Interleaved S16_LE, one channel, exactly `rate`; period and buffer near the request.
    private static func configure(_ pcm: OpaquePointer, pcm name: String, rate: Int,
                                  periodFrames: Int, periods: Int) throws -> (rate: Int, period: Int, buffer: Int) {
        var hw: OpaquePointer?
        guard snd_pcm_hw_params_malloc(&hw) >= 0, let hw else {
            throw AlsaError.unsupportedConfiguration(pcm: name, message: "out of memory for hardware parameters")
        }
        defer { snd_pcm_hw_params_free(hw) }
        let plugHint = "use a plug: PCM (e.g. plughw:CARD,DEV or plug:\(name)) to let ALSA convert"
        func check(_ code: Int32, _ what: String) throws {
            if code < 0 {
                throw AlsaError.unsupportedConfiguration(pcm: name, message: "\(what): \(alsaText(code))")
            }
        }
        try check(snd_pcm_hw_params_any(pcm, hw), "cannot read hardware parameters")
        try check(snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED), "interleaved access not available")
        if snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE) < 0 {
            throw AlsaError.unsupportedConfiguration(pcm: name, message: "device cannot capture S16_LE samples; \(plugHint)")
        }
        if snd_pcm_hw_params_set_channels(pcm, hw, 1) < 0 {
            var low: UInt32 = 0, high: UInt32 = 0
            snd_pcm_hw_params_get_channels_min(hw, &low)
            snd_pcm_hw_params_get_channels_max(hw, &high)
            throw AlsaError.unsupportedConfiguration(pcm: name, message:
                "device cannot capture mono (it offers \(low)-\(high) channels); \(plugHint)")
        }
        var actualRate = UInt32(clamping: rate)
        var direction: Int32 = 0
        try check(snd_pcm_hw_params_set_rate_near(pcm, hw, &actualRate, &direction), "cannot set a sample rate near \(rate) Hz")
        guard Int(actualRate) == rate else {
            throw AlsaError.unsupportedConfiguration(pcm: name, message:
                "device captures at \(actualRate) Hz, not \(rate) Hz; \(plugHint)")
        }
        var period = snd_pcm_uframes_t(periodFrames)
        try check(snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, &direction), "cannot set a period of \(periodFrames) frames")
        var buffer = period * snd_pcm_uframes_t(periods)
        try check(snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer), "cannot set a buffer of \(periods) periods")
        try check(snd_pcm_hw_params(pcm, hw), "cannot apply hardware parameters")
        snd_pcm_hw_params_get_period_size(hw, &period, &direction)
        snd_pcm_hw_params_get_buffer_size(hw, &buffer)
        return (Int(actualRate), Int(period), Int(buffer))
    }
}

/// ALSA's text for a negative error code.
private func alsaText(_ code: Int32) -> String { String(cString: snd_strerror(code)) }

/// Discards ALSA's library diagnostics (installed per thread around our ALSA calls).
private let quietAlsaErrors: snd_local_error_handler_t = { _, _, _, _, _, _ in }

#if DEBUG
/// Debug builds only: which `snd_pcm_readi` calls (1-based, per capture) report an injected
/// error instead of reading. Text form: `overrun@N`, `suspend@N`, `enodev@N`, `eio@N`, comma-separated.
public struct AlsaFaultPlan: Sendable, Equatable {
    public var faults: [Int: Int32]

    public init(faults: [Int: Int32] = [:]) { self.faults = faults }

    /// Parses the text form; nil (with nothing injected) when it does not parse.
    public init?(_ text: String) {
        var faults: [Int: Int32] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "@")
            guard parts.count == 2, let call = Int(parts[1].trimmingCharacters()), call > 0 else { return nil }
            switch parts[0].trimmingCharacters() {
            case "overrun": faults[call] = -EPIPE
            case "suspend": faults[call] = -ESTRPIPE
            case "enodev": faults[call] = -ENODEV
            case "eio": faults[call] = -EIO
            default: return nil
            }
        }
        self.faults = faults
    }

    func fault(atCall call: Int) -> Int32? { faults[call] }

    /// BABYMONITOR_FAULT_INJECT, handed to the first capture that asks (a reopened device
    /// after an injected loss then runs clean).
    private static let environmentPlan = Mutex<AlsaFaultPlan?>(
        getenv("BABYMONITOR_FAULT_INJECT").flatMap { AlsaFaultPlan(String(cString: $0)) })

    static func takeEnvironmentPlan() -> AlsaFaultPlan {
        environmentPlan.withLock { plan in
            defer { plan = nil }
            return plan ?? AlsaFaultPlan()
        }
    }
}

private extension Substring {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
#endif
