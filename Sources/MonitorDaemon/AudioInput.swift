#if canImport(Glibc)
import Glibc
#endif
import Atomics

/// Where the daemon's audio comes from (`--input`).
public enum InputSpec: Sendable, Equatable, CustomStringConvertible {
    /// An ALSA PCM name (`default`, `plughw:1,0`, a name from an asoundrc).
    case alsa(String)
    /// A WAV file replayed through the same ring buffer and pipeline.
    case wav(String)

    /// Parses `alsa:PCM` or `wav:PATH`.
    public init(parsing text: String) throws(DaemonError) {
        if text.hasPrefix("alsa:"), text.count > 5 {
            self = .alsa(String(text.dropFirst(5)))
        } else if text.hasPrefix("wav:"), text.count > 4 {
            self = .wav(String(text.dropFirst(4)))
        } else {
            throw .input("--input \(text): expected alsa:PCM or wav:PATH")
        }
    }

    public var description: String {
        switch self {
        case .alsa(let pcm): return "alsa:\(pcm)"
        case .wav(let path): return "wav:\(path)"
        }
    }
}

/// How a WAV file is replayed.
public enum ReplayPace: String, Sendable, CaseIterable {
    /// At the file's own pace, as a live device would deliver it.
    case realtime
    /// As fast as the pipeline takes it: the replay waits for ring space instead of
    /// dropping samples (a file must be processed whole to be scored against labels).
    case fast
}

/// A capture device as the capture loop sees it (ALSA in the daemon; tests substitute one).
public protocol CaptureDevice: AnyObject {
    /// Reads up to `buffer.count` samples (full scale 1.0); 0 when none came within the
    /// device's timeout. Throws when the device is gone (unplugged...).
    func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int
    /// Overruns (xruns) the device recovered from since it was opened.
    var xruns: Int { get }
    func close()
}

/// A block source for file replay (mono samples at the analysis rate).
public protocol ReplaySource: AnyObject {
    /// Fills `buffer`; returns how many samples (0 at the end).
    func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int
}

/// Counters and flags the capture side shares with the others.
public final class CaptureState: @unchecked Sendable {
    // @unchecked: atomics only.
    /// Capture xruns since start, over every device opened.
    public let xruns = ManagedAtomic<Int>(0)
    /// True while no device is open (state `no_device`).
    public let deviceMissing = ManagedAtomic<Bool>(false)
    /// Set by the capture thread after the last sample of a file was pushed.
    public let inputFinished = ManagedAtomic<Bool>(false)
    /// Set to ask the capture thread to stop.
    public let stopRequested = ManagedAtomic<Bool>(false)
    /// Wakes a capture thread sleeping in its retry backoff when stopping.
    public let stopWakeup: Wakeup

    public init() throws(DaemonError) {
        stopWakeup = try Wakeup()
    }
}

/// The capture loops: they run on the capture thread and only push into the ring (the
/// producer side); device events go through `events`.
public struct CaptureLoop: Sendable {
    public let ring: RingBuffer<Float>
    public let state: CaptureState
    /// Signalled after every push so the processing thread wakes up.
    public let dataReady: Wakeup
    public let sampleRate: Int
    /// Samples per read/push (one period).
    public let blockSize: Int

    public init(ring: RingBuffer<Float>, state: CaptureState, dataReady: Wakeup, sampleRate: Int, blockSize: Int) {
        self.ring = ring
        self.state = state
        self.dataReady = dataReady
        self.sampleRate = sampleRate
        self.blockSize = max(1, blockSize)
    }

    /// Live capture with recovery: when the device cannot be opened or is lost, reports
    /// `device_lost` once (state `no_device`) and retries with backoff 1 s, 2 s, ... 30 s;
    /// reports `device_ok` when it is back. Returns when stop is requested.
    public func runLive(device name: String, open: () throws -> CaptureDevice,
                        publish: (DeviceEvent) -> Void, initialBackoffSeconds: Double = 1,
                        maxBackoffSeconds: Double = 30) {
        var buffer = [Float](repeating: 0, count: blockSize)
        var backoff = initialBackoffSeconds
        var announcedLost = false
        var xrunsBefore = 0
        while !state.stopRequested.load(ordering: .acquiring) {
            let device: CaptureDevice
            do {
                device = try open()
            } catch {
                state.deviceMissing.store(true, ordering: .releasing)
                if !announcedLost {
                    publish(.lost(error: "\(error)"))
                    announcedLost = true
                }
                state.stopWakeup.wait(timeoutMillis: Int32(backoff * 1000))
                backoff = min(backoff * 2, maxBackoffSeconds)
                continue
            }
            state.deviceMissing.store(false, ordering: .releasing)
            if announcedLost {
                publish(.ok)
                announcedLost = false
            }
            backoff = initialBackoffSeconds
            xrunsBefore = 0
            while !state.stopRequested.load(ordering: .acquiring) {
                let n: Int
                do {
                    n = try buffer.withUnsafeMutableBufferPointer { try device.read(into: $0) }
                } catch {
                    device.close()
                    state.deviceMissing.store(true, ordering: .releasing)
                    publish(.lost(error: "\(error)"))
                    announcedLost = true
                    break
                }
                let x = device.xruns
                if x != xrunsBefore {
                    state.xruns.wrappingIncrement(by: x - xrunsBefore, ordering: .relaxed)
                    xrunsBefore = x
                }
                if n > 0 {
                    buffer.withUnsafeBufferPointer { _ = ring.push(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                    dataReady.signal()
                }
            }
            if state.stopRequested.load(ordering: .acquiring) {
                device.close()
                return
            }
            // Lost: wait before reopening (an unplugged device does not come back at once).
            state.stopWakeup.wait(timeoutMillis: Int32(backoff * 1000))
            backoff = min(backoff * 2, maxBackoffSeconds)
        }
    }

    /// File replay into the ring: `.realtime` pushes one block per block duration (absolute
    /// schedule on the monotonic clock, so it does not drift); `.fast` pushes as fast as the
    /// ring takes it and waits for space instead of dropping. Sets `inputFinished` at the end.
    public func runReplay(_ source: ReplaySource, pace: ReplayPace) throws {
        defer {
            state.inputFinished.store(true, ordering: .releasing)
            dataReady.signal()
        }
        var buffer = [Float](repeating: 0, count: blockSize)
        var next = timespec()
        clock_gettime(CLOCK_MONOTONIC, &next)
        let blockNanos = Int(Double(blockSize) / Double(sampleRate) * 1e9)
        while !state.stopRequested.load(ordering: .acquiring) {
            let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
            if n == 0 { return }
            switch pace {
            case .realtime:
                buffer.withUnsafeBufferPointer { _ = ring.push(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                dataReady.signal()
                // Next block is due one block duration after this one was.
                next.tv_nsec += blockNanos * n / blockSize
                while next.tv_nsec >= 1_000_000_000 { next.tv_nsec -= 1_000_000_000; next.tv_sec += 1 }
                while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nil) == EINTR {}
            case .fast:
                var sent = 0
                while sent < n && !state.stopRequested.load(ordering: .acquiring) {
                    sent += buffer.withUnsafeBufferPointer { ring.pushAvailable(UnsafeBufferPointer(rebasing: $0[sent..<n])) }
                    dataReady.signal()
                    if sent < n { usleep(1000) }   // ring full: the pipeline is behind
                }
            }
        }
    }

    public enum DeviceEvent: Equatable {
        case lost(error: String)
        case ok
    }
}
