#if canImport(Glibc)
import Glibc
#endif
// FoundationEssentials where the toolchain has it: no ICU in babymonitord (issue 15).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch   // DispatchSemaphore
import ThreadSupport
import Atomics
import ControlProtocol
import Logging

public let babymonitorVersion = "0.1.0"

/// Everything the daemon runs with (config file values overridden by the command line).
public struct DaemonOptions: Sendable {
    public var config: DaemonConfig
    public var input: InputSpec
    public var pace: ReplayPace
    public var eventLogPath: String
    public var socketPath: String
    /// After a replayed file ends, keep running (socket up, state `finished`) until a signal,
    /// so that the replayed night can be labelled like a live one.
    public var keepRunning: Bool

    public init(config: DaemonConfig, input: InputSpec? = nil, pace: ReplayPace = .realtime,
                eventLogPath: String? = nil, socketPath: String? = nil, keepRunning: Bool = false) {
        self.config = config
        self.input = input ?? .alsa(config.audio.pcm)
        self.pace = pace
        self.eventLogPath = eventLogPath ?? config.log.eventLog
        self.socketPath = socketPath ?? config.control.socket
        self.keepRunning = keepRunning
    }
}

/// Opens capture devices and replay sources (AudioIO); the daemon is handed these so that
/// it does not depend on how audio is read.
public struct AudioBackends: Sendable {
    /// Opens `pcm` for capture at `sampleRate`, periods of `periodMs`; called on the capture thread.
    public var openCapture: @Sendable (_ pcm: String, _ sampleRate: Int, _ periodMs: Int) throws -> CaptureDevice
    /// Opens a WAV file for replay, resampled to `sampleRate`.
    public var openReplay: @Sendable (_ path: String, _ sampleRate: Int) throws -> ReplaySource

    public init(openCapture: @escaping @Sendable (String, Int, Int) throws -> CaptureDevice,
                openReplay: @escaping @Sendable (String, Int) throws -> ReplaySource) {
        self.openCapture = openCapture
        self.openReplay = openReplay
    }
}

/// The daemon: capture thread -> ring -> processing thread -> publisher, the control
/// server's thread, and the main thread handling signals, sd_notify and the watchdog.
public final class Daemon: @unchecked Sendable {
    // @unchecked: set up before the threads start; shared parts are thread-safe types.
    public let options: DaemonOptions
    private let backends: AudioBackends
    private let ring: RingBuffer<Float>
    private let capture: CaptureState
    private let dataReady: Wakeup
    private let publisher: EventPublisher
    private let processing: ProcessingLoop
    private let pipeline: CryPipeline
    private let recorder: EpisodeRecorder
    /// Adapted models refused at start (published once the log is up).
    private let startRefusals: [ModelSet.Refusal]
    /// One reload at a time (socket and SIGHUP).
    private let reloadLock = Locked(0)
    private var server: ControlServer?
    /// `monitorctl adapt`'s `crymodel adapt` child (set up in `run`).
    private var adaptation: AdaptationRunner?
    /// Events and state to an MQTT broker; nil when `[mqtt] enabled` is false.
    private let mqtt: MQTTPublisher?
    private let notifier: SystemdNotifier
    private let startTime = monotonicSeconds()
    private let stopping = ManagedAtomic<Bool>(false)
    private let replayFailure = Locked<String?>(nil)
    private let captureDone = DispatchSemaphore(value: 0)
    private let processingDone = DispatchSemaphore(value: 0)
    private let processingFinished = ManagedAtomic<Bool>(false)

    public init(options: DaemonOptions, backends: AudioBackends,
                notifier: SystemdNotifier = SystemdNotifier()) throws(DaemonError) {
        self.options = options
        self.backends = backends
        self.notifier = notifier
        let rate = options.config.audio.sampleRate
        ring = RingBuffer(minimumCapacity: max(1024, Int(options.config.audio.ringSeconds * Double(rate))))
        capture = try CaptureState()
        dataReady = try Wakeup()
        let log = EventLog(path: options.eventLogPath, maxBytes: options.config.log.maxBytes, keep: options.config.log.keep)
        publisher = EventPublisher(log: log, recentLimit: options.config.control.recentEvents)
        do {
            let (models, refusals) = try ModelSet.load(config: options.config)
            startRefusals = refusals
            pipeline = try CryPipeline(config: options.config, models: models)
        } catch { throw .config(error.description) }
        // A missing socket group is the configuration's fault (exit 78, naming the file),
        // found before anything is bound.
        let group = options.config.control.group
        if !group.isEmpty && getgrnam(group) == nil {
            throw .config(ConfigError(file: options.config.sourcePath ?? "built-in configuration", key: "control.group",
                                      problem: "group \"\(group)\" does not exist").description)
        }
        var recorderOptions = EpisodeRecorder.Options(config: options.config)
        if case .wav = options.input, options.pace == .fast { recorderOptions.waitForWriter = true }
        recorder = try EpisodeRecorder(options: recorderOptions, publish: { [publisher] in publisher.publish($0) })
        let history = EventLogHistory.scan(path: options.eventLogPath)
        // Never reuse a kept episode's number, even when the event log was removed.
        let lastEpisode = max(history.lastEpisode, recorder.lastEpisodeOnDisk())
        pipeline.continueEpisodeNumbering(after: lastEpisode)
        recorder.noteEpisodeNumbering(after: lastEpisode)
        publisher.seedEpisodesToday(history.episodesToday)
        if options.config.mqtt.enabled {
            mqtt = try MQTTPublisher(config: options.config.mqtt, version: babymonitorVersion)
        } else {
            mqtt = nil
        }
        processing = ProcessingLoop(ring: ring, capture: capture, dataReady: dataReady, publisher: publisher,
                                    pipeline: pipeline, recorder: recorder)
    }

    /// Runs until SIGTERM/SIGINT (or the end of a replayed file). Returns the exit status.
    public func run() -> Int32 {
        let signals: SignalPipe
        do { signals = try SignalPipe.install() } catch {
            report("babymonitord: \(error)")
            return 1
        }
        // A replayed file must exist and parse before anything starts.
        var replay: ReplaySource?
        if case .wav(let path) = options.input {
            do { replay = try backends.openReplay(path, options.config.audio.sampleRate) } catch {
                report("babymonitord: \(error)")
                return 65
            }
        }
        // The event log is opened now: a refusal (a symlink or FIFO at its path, an unsafe
        // directory, another daemon's lock) ends start-up; an error of the moment (no space,
        // a missing directory) only degrades the log, which keeps retrying.
        if let failure = publisher.log.openAtStartup(), failure.refused {
            report("babymonitord: \(failure.problem)")
            return failure.locked ? 1 : 74
        }
        let adaptation = AdaptationRunner(config: options.config, reload: { [weak self] in
            guard let self else { return .failure(ControlRefusal("the daemon is stopping")) }
            return self.reloadModels(reason: "adapt")
        })
        self.adaptation = adaptation
        let server: ControlServer
        do {
            var serverOptions = ControlServer.Options(path: options.socketPath,
                                                      group: options.config.control.group.isEmpty ? nil : options.config.control.group)
            serverOptions.mode = 0o660
            server = try ControlServer(options: serverOptions, handlers: ControlHandlers(
                status: { [weak self] in self?.status() ?? DaemonStatus() },
                recentEvents: { [weak self] limit in self?.publisher.recentEvents(limit: limit) ?? [] },
                label: { [weak self] episode, label in
                    guard let self else { return .failure(ControlRefusal("the daemon is stopping")) }
                    return self.label(episode, label)
                },
                reload: { [weak self] in
                    guard let self else { return .failure(ControlRefusal("the daemon is stopping")) }
                    return self.reloadModels(reason: "request").map { ($0.names, $0.adaptedRoles) }
                },
                adapt: { [weak self] in
                    guard let self, !self.stopping.load(ordering: .acquiring) else { return .failure(ControlRefusal("the daemon is stopping")) }
                    return adaptation.start()
                }))
            try server.start()
        } catch {
            report("babymonitord: \(error)")
            if case .socketInUse = error { return 1 }
            return 74
        }
        self.server = server
        publisher.attach(server: server)
        startMQTT()
        publisher.publish(.started(version: babymonitorVersion, input: options.input.description,
                                   models: pipeline.modelNames))
        for r in startRefusals {
            publisher.publish(.modelError(role: r.role, path: r.path, error: r.problem))
        }
        if !pipeline.adaptedRoles.isEmpty {
            publisher.publish(.modelsLoaded(reason: "start", models: pipeline.modelNames, adapted: pipeline.adaptedRoles,
                                                onThreshold: pipeline.detectorOnThreshold, tAudio: 0))
        }
        if let reason = pipeline.degradedReason {
            publisher.publish(.degraded(component: "detector", reason: reason))
        }

        recorder.start()
        startProcessingThread()
        startCaptureThread(replay: replay, signals: signals)
        notifier.notify("READY=1\nSTATUS=\(statusLine())\nMAINPID=\(getpid())")

        var reason = "signal"
        var lastSamples = -1
        var lastHeartbeat = -1
        var lastWatchdog = 0.0
        var lastStatusLine = ""
        loop: while true {
            switch signals.wait(timeoutMillis: 1000) {
            case SIGTERM: reason = "SIGTERM"; break loop
            case SIGINT: reason = "SIGINT"; break loop
            case SIGHUP:
                publisher.log.reopen()
                _ = reloadModels(reason: "SIGHUP")
            case SignalPipe.processingFinished:
                reason = "end of input"
                if !options.keepRunning { break loop }
                notifier.notify("STATUS=finished; --keep-running: waiting for SIGTERM")
            default: break
            }
            // Watchdog: only while the processing thread runs and audio advances (or there
            // is legitimately none: no device, retrying).
            let now = monotonicSeconds()
            if let interval = notifier.watchdogInterval, now - lastWatchdog >= min(interval, 5) {
                let samples = processing.samplesProcessed.load(ordering: .acquiring)
                let beat = processing.heartbeat.load(ordering: .relaxed)
                let idleOK = capture.deviceMissing.load(ordering: .relaxed)
                if beat != lastHeartbeat && (samples != lastSamples || idleOK) {
                    notifier.notify("WATCHDOG=1")
                    lastWatchdog = now
                }
                lastSamples = samples
                lastHeartbeat = beat
            }
            mqtt?.refreshState()
            let line = statusLine()
            if line != lastStatusLine {
                notifier.notify("STATUS=\(line)")
                lastStatusLine = line
            }
        }
        return shutdown(reason: reason)
    }

    /// Stops capture and processing, writes the final events, removes the socket.
    private func shutdown(reason: String) -> Int32 {
        stopping.store(true, ordering: .releasing)
        adaptation?.stop()
        notifier.notify("STOPPING=1\nSTATUS=stopping (\(reason))")
        capture.stopRequested.store(true, ordering: .releasing)
        capture.stopWakeup.signal()
        captureDone.wait()
        processing.stopRequested.store(true, ordering: .releasing)
        dataReady.signal()
        processingDone.wait()
        // The episode writer finishes what the stream's end left queued.
        recorder.stop()
        var code: Int32 = 0
        if let failure = replayFailure.withLock({ $0 }) {
            report("babymonitord: \(failure)")
            code = 65
        }
        publisher.publish(.stopping(reason: reason, tAudio: processing.audioSeconds))
        publisher.log.retryPending()
        // Events that never reached the log make the exit status say so (a replay whose
        // log was never writable must not look like a success).
        let unwritten = publisher.log.pendingCount + publisher.log.lostEvents
        if unwritten > 0 {
            report("babymonitord: \(unwritten) event(s) could not be written to the event log: \(publisher.log.degradedReason ?? "unknown reason")")
            if code == 0 { code = 74 }
        }
        publisher.log.close()
        mqtt?.stop()
        server?.stop()
        return code
    }

    /// Starts the MQTT publisher (its own threads) and sends it every event from now on.
    private func startMQTT() {
        guard let mqtt else { return }
        mqtt.setSnapshot { [weak self] in (self?.state() ?? "stopping", self?.publisher.episodesToday ?? 0) }
        publisher.attach(sink: { event in mqtt.enqueue(event) })
        mqtt.start()
    }

    private func startProcessingThread() {
        DaemonThread.start(name: "processing") { [self] in
            processing.run()
            processingFinished.store(true, ordering: .releasing)
            processingDone.signal()
            // A file replay that reached its end ends the daemon.
            if !stopping.load(ordering: .acquiring) { SignalPipe.post(SignalPipe.processingFinished) }
        }
    }

    private func startCaptureThread(replay: ReplaySource?, signals: SignalPipe) {
        let rate = options.config.audio.sampleRate
        let block = max(1, rate * options.config.audio.periodMs / 1000)
        let loop = CaptureLoop(ring: ring, state: capture, dataReady: dataReady, sampleRate: rate, blockSize: block)
        let input = options.input
        let pace = options.pace
        let periodMs = options.config.audio.periodMs
        let backends = self.backends
        let replayBox = UncheckedBox(replay)
        DaemonThread.start(name: "capture") { [self] in
            defer { captureDone.signal() }
            switch input {
            case .wav:
                guard let source = replayBox.value else { return }
                do { try loop.runReplay(source, pace: pace) } catch {
                    replayFailure.withLock { $0 = "\(error)" }
                }
            case .alsa(let pcm):
                RealtimeScheduling.requestForCurrentThread(logger: Logger(label: "babymonitord"))
                // Device events happen at the capture's position in the stream, ahead of
                // processing: the processing thread publishes them when it gets there.
                loop.runLive(device: pcm, open: { try backends.openCapture(pcm, rate, periodMs) }, publish: { event in
                    let position = self.ring.totalWritten
                    let t = Double(position) / Double(rate)
                    switch event {
                    case .lost(let error): self.processing.publish(.deviceLost(device: pcm, error: error, tAudio: t), atSample: position)
                    case .ok: self.processing.publish(.deviceOK(device: pcm, tAudio: t), atSample: position)
                    }
                })
            }
        }
    }

    private func state() -> String {
        if stopping.load(ordering: .relaxed) { return "stopping" }
        if processingFinished.load(ordering: .relaxed) { return "finished" }
        if capture.deviceMissing.load(ordering: .relaxed) { return "no_device" }
        if publisher.currentEpisode != nil { return "cry" }
        if processing.samplesProcessed.load(ordering: .relaxed) == 0 && capture.xruns.load(ordering: .relaxed) == 0
            && ring.totalWritten == 0 { return "starting" }
        return "listening"
    }

    /// The status snapshot for `{"cmd":"status"}` (server thread).
    public func status() -> DaemonStatus {
        var s = DaemonStatus()
        s.version = babymonitorVersion
        s.pid = Int(getpid())
        s.uptimeSeconds = monotonicSeconds() - startTime
        s.input = options.input.description
        s.state = state()
        s.framesProcessed = processing.framesProcessed.load(ordering: .relaxed)
        s.audioSeconds = processing.audioSeconds
        s.sampleRate = options.config.audio.sampleRate
        s.ringFill = ring.fillLevel
        s.ringCapacity = ring.capacity
        s.droppedSamples = ring.droppedSamples
        s.xruns = capture.xruns.load(ordering: .relaxed)
        s.currentEpisode = publisher.currentEpisode
        s.lastNeed = publisher.lastNeed
        s.episodesToday = publisher.episodesToday
        s.causeModel = pipeline.modelNames.first(where: { $0.0 == "cause" })?.1
        s.detectorModel = pipeline.modelNames.first(where: { $0.0 == "detector" })?.1
        let problems = [publisher.log.degradedReason, pipeline.degradedReason, recorder.degradedReason].compactMap { $0 }
        s.degraded = problems.isEmpty ? nil : problems.joined(separator: "; ")
        s.eventLog = options.eventLogPath
        s.pendingEvents = publisher.log.pendingCount
        s.lostEvents = publisher.log.lostEvents
        s.modelsAdapted = pipeline.adaptedRoles
        if recorder.isEnabled {
            let kept = recorder.summary
            s.episodesDir = recorder.options.directory
            s.episodesKept = kept.kept
            s.episodesBytes = kept.bytes
            s.episodesWriting = kept.writing
        }
        s.mqtt = mqtt?.status
        if let a = adaptation?.status { s.adaptation = a }
        return s
    }

    /// `{"cmd":"reload"}`, `monitorctl reload`, SIGHUP: loads and checks the models of
    /// `[models]` (adapted first) on the calling thread and hands them to the processing
    /// thread, which swaps them in between frames outside an episode and publishes
    /// `models_loaded` then. A refused model gets a `model_error` event and the one in use
    /// stays; the answer is then an error naming it.
    func reloadModels(reason: String) -> Result<ModelSet, ControlRefusal> {
        reloadLock.withLock { _ -> Result<ModelSet, ControlRefusal> in
            let loaded: (ModelSet, [ModelSet.Refusal])
            do {
                loaded = try ModelSet.load(config: options.config, current: pipeline.models, frontEnd: pipeline.frontEnd)
            } catch {
                let text = "\(error)"
                publisher.publish(.modelError(role: "models", path: "", error: text))
                return .failure(ControlRefusal(text))
            }
            let (set, refusals) = loaded
            for r in refusals { publisher.publish(.modelError(role: r.role, path: r.path, error: r.problem)) }
            // Unchanged files (logrotate's SIGHUP, a repeated reload): nothing to swap.
            if set.isSame(as: pipeline.models) {
                return refusals.isEmpty ? .success(set)
                    : .failure(ControlRefusal(refusals.map(\.description).joined(separator: "; ") + " (kept the model in use)"))
            }
            pipeline.install(set, reason: reason)
            if processingFinished.load(ordering: .acquiring) {
                // No more frames will come (a finished replay kept running): swap now, the
                // processing thread is gone.
                pipeline.swapPendingModels(emit: { publisher.publish($0) })
            } else {
                dataReady.signal()
            }
            if !refusals.isEmpty {
                return .failure(ControlRefusal(refusals.map(\.description).joined(separator: "; ")
                                               + " (kept the model in use)"))
            }
            return .success(set)
        }
    }

    /// `{"cmd":"label"}` (server thread): records the label in the episode's sidecar, then
    /// publishes the label event; nothing changes on error.
    private func label(_ reference: EpisodeReference, _ label: EpisodeLabel) -> Result<MonitorEvent, ControlRefusal> {
        do {
            let (episode, labels) = try recorder.addLabel(label, to: reference)
            let event = MonitorEvent.label(episode: episode, label: label, allLabels: labels)
            publisher.publish(event)
            return .success(event)
        } catch {
            return .failure(ControlRefusal(error.description))
        }
    }

    private func statusLine() -> String {
        let s = status()
        var line = "\(s.state), \(JSONValue.fixed(s.audioSeconds, decimals: 0)) s of audio, \(s.episodesToday) episodes today"
        if let d = s.degraded { line += "; degraded: \(d)" }
        return line
    }
}

/// Moves a non-Sendable value to the one thread that uses it from then on.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

func report(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
}

// MARK: signals

/// Signals become bytes on a self-pipe (the handler only write(2)s, which is
/// async-signal-safe); the main thread reads them in `wait`. Other threads post internal
/// wake-ups (`processingFinished`) the same way.
final class SignalPipe: @unchecked Sendable {
    // @unchecked: file descriptors only.
    static let processingFinished: Int32 = 0
    nonisolated(unsafe) static var writeFD: Int32 = -1
    let readFD: Int32

    private init(readFD: Int32) { self.readFD = readFD }

    static func install() throws(DaemonError) -> SignalPipe {
        if writeFD >= 0 { return SignalPipe(readFD: sharedReadFD) }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .system("pipe", errno) }
        setNonBlockingCloseOnExec(fds[0])
        setNonBlockingCloseOnExec(fds[1])
        sharedReadFD = fds[0]
        writeFD = fds[1]
        // Whoever started us may have left these blocked (a spawning test runner does);
        // unblock them on the main thread before any other thread inherits its mask.
        var handled = sigset_t()
        sigemptyset(&handled)
        for sig in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&handled, sig) }
        pthread_sigmask(SIG_UNBLOCK, &handled, nil)
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, { sig in
                let saved = errno
                var b = UInt8(truncatingIfNeeded: sig)
                _ = write(SignalPipe.writeFD, &b, 1)
                errno = saved
            })
        }
        signal(SIGPIPE, SIG_IGN)    // a client gone mid-write is an error code, not death
        signal(SIGXFSZ, SIG_IGN)    // a file size limit is EFBIG for the event log, not death
        return SignalPipe(readFD: fds[0])
    }

    nonisolated(unsafe) private static var sharedReadFD: Int32 = -1

    static func post(_ code: Int32) {
        var b = UInt8(truncatingIfNeeded: code)
        _ = write(writeFD, &b, 1)
    }

    /// The next signal (or internal code), or -1 after `timeoutMillis`.
    func wait(timeoutMillis: Int32) -> Int32 {
        var p = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMillis) > 0 else { return -1 }
        var b: UInt8 = 0
        return read(readFD, &b, 1) == 1 ? Int32(b) : -1
    }
}
