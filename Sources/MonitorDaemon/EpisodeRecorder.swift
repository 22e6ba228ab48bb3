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
import ControlProtocol

/// Keeps each cry episode's audio on the device, for the parents to label and the models
/// to adapt to (`[episodes]`; interfaces.md, "Kept episodes").
///
///     dir/episode-<N>.wav    16-bit mono PCM at the analysis rate, from onset - pre_roll_s
///                            to the episode's end
///     dir/episode-<N>.json   the episode: number, start, t_audio, duration, peak p(cry),
///                            final need with its probabilities, labels given so far
///
/// The processing thread only copies samples into a preallocated ring (`append`, no
/// allocation, no system call) and notes episode events (`observe`); a writer thread takes
/// the episode's samples out of the ring and writes the files. The ring holds the pre-roll,
/// the detector's onset look-back and 30 s of slack for a slow disk; a live stream never
/// waits for the writer (samples it could not save in time are counted in the sidecar's
/// `missing_samples`), a fast replay does (`waitForWriter`).
///
/// Files are created inside a directory opened once with O_NOFOLLOW, with
/// openat(O_CREAT|O_EXCL|O_NOFOLLOW) under a temporary name and renamed into place when
/// complete, so a symlink planted in the directory is never followed and a reader never sees
/// half a file. After each episode the oldest episodes are deleted until the directory holds
/// at most `keep_mb`. A write that fails (full disk...) drops that episode's audio, never an
/// event: a `degraded` event says so, and a later episode that is kept again recovers it.
public final class EpisodeRecorder: @unchecked Sendable {
    // @unchecked: `samples` is written by the processing thread and read by the writer with
    // `shared` held; `dirFD` and the writer's fields belong to the writer thread, except the
    // label path, which runs under `files`.
    public struct Options: Sendable {
        public var directory: String
        /// Bytes of episodes kept (0: keeping off).
        public var keepBytes: Int
        public var preRollSeconds: Double
        public var sampleRate: Int
        /// A fast replay waits for the writer instead of letting it fall behind.
        public var waitForWriter = false
        /// Ring capacity beyond pre-roll and look-back, seconds: how long the disk may stall
        /// before a live stream's kept audio gets gaps (16 kB/s of audio; an SD card that
        /// stalls longer than this is failing). 30 s, not 60: 0.5 MB less resident (issue 15).
        public var slackSeconds = 30.0

        public init(directory: String, keepBytes: Int, preRollSeconds: Double, sampleRate: Int) {
            self.directory = directory
            self.keepBytes = keepBytes
            self.preRollSeconds = preRollSeconds
            self.sampleRate = sampleRate
        }

        public init(config: DaemonConfig) {
            self.init(directory: config.episodes.dir, keepBytes: Int(config.episodes.keepMB * 1_000_000),
                      preRollSeconds: config.episodes.preRollS, sampleRate: config.audio.sampleRate)
        }
    }

    /// What the writer is told, in stream order.
    private enum Command {
        case start(episode: Int, fromSample: Int, onsetSample: Int, ts: Int64, tAudio: Double, models: [(String, String)])
        case need(episode: Int, event: MonitorEvent)
        case end(episode: Int, endSample: Int, duration: Double, peak: Double?)
        case stop
    }

    private struct Shared {
        var written = 0                 // samples appended since the stream began
        var commands: [Command] = []
        /// The oldest sample the writer still needs (nil: only the pre-roll matters).
        var neededFrom: Int?
        var writing: Set<Int> = []      // episodes started and not yet finished by the writer
        var lastEpisodeSeen = 0
    }

    public let options: Options
    public var isEnabled: Bool { options.keepBytes > 0 }
    private let capacity: Int
    /// The ring, already in the files' 16-bit format: half the memory of Float samples
    /// (issue 15), and the same bits in the file as converting when writing.
    private let samples: UnsafeMutableBufferPointer<Int16>
    private let shared = Locked(Shared())
    private let wakeup: Wakeup
    private let publish: @Sendable (MonitorEvent) -> Void
    private let preRollSamples: Int
    private var started = false
    private let done = DispatchSemaphore(value: 0)

    /// Directory, kept files and health; guarded for the writer and the label path.
    private struct Files {
        var dirFD: Int32 = -1
        var degraded: String?
        var kept: [Int: Int] = [:]     // episode -> bytes (wav + json)
    }
    private let files = Locked(Files())

    /// `publish` gets the `degraded` events (any thread).
    public init(options: Options, publish: @escaping @Sendable (MonitorEvent) -> Void) throws(DaemonError) {
        self.options = options
        self.publish = publish
        preRollSamples = Int((options.preRollSeconds * Double(options.sampleRate)).rounded())
        // Pre-roll + the detector's onset look-back and confirmation (under 10 s) + slack.
        capacity = max(1024, preRollSamples + Int((10 + options.slackSeconds) * Double(options.sampleRate)))
        samples = .allocate(capacity: isEnabledFor(options) ? capacity : 1)
        samples.initialize(repeating: 0)
        wakeup = try Wakeup()
    }

    deinit {
        files.withLock { if $0.dirFD >= 0 { _ = close($0.dirFD) } }
        samples.deallocate()
    }

    // MARK: processing thread

    /// Copies the stream's next samples into the ring. No allocation; waits only with
    /// `waitForWriter` when the writer still needs the samples about to be overwritten.
    public func append(_ chunk: UnsafeBufferPointer<Float>) {
        guard isEnabled, !chunk.isEmpty else { return }
        var offset = 0
        while offset < chunk.count {
            let room = shared.withLock { s -> Int in
                guard options.waitForWriter, let needed = s.neededFrom else { return chunk.count - offset }
                return max(0, min(chunk.count - offset, needed + capacity - s.written))
            }
            if room == 0 {
                wakeup.signal()
                usleep(1000)
                continue
            }
            shared.withLock { s in
                // In at most two runs (before and after the ring's end), without a division
                // per sample.
                var index = s.written % capacity
                var done = 0
                while done < room {
                    let run = min(room - done, capacity - index)
                    for i in 0..<run { samples[index + i] = sixteenBit(chunk[offset + done + i]) }
                    done += run
                    index = 0
                }
                s.written += room
            }
            offset += room
        }
    }

    /// Notes the episode events the pipeline emits (processing thread, before they are
    /// published). `models` are the models in use, for the sidecar.
    public func observe(_ event: MonitorEvent, models: @autoclosure () -> [(String, String)]) {
        guard isEnabled, let episode = event.episode else { return }
        let rate = Double(options.sampleRate)
        let command: Command
        switch event.type {
        case MonitorEvent.Kind.cryStart:
            let onset = Int(((event.tAudio ?? 0) * rate).rounded())
            command = .start(episode: episode, fromSample: max(0, onset - preRollSamples), onsetSample: onset,
                             ts: event.timestampMillis, tAudio: event.tAudio ?? 0, models: models())
        case MonitorEvent.Kind.need where event["final"]?.boolValue == true:
            command = .need(episode: episode, event: event)
        case MonitorEvent.Kind.cryEnd:
            command = .end(episode: episode, endSample: Int(((event.tAudio ?? 0) * rate).rounded()),
                           duration: event["duration_s"]?.doubleValue ?? 0, peak: event["peak_p_cry"]?.doubleValue)
        default:
            return
        }
        // One critical section: the writer never sees the start's samples as unneeded.
        shared.withLock { s in
            if case .start(_, let from, _, _, _, _) = command {
                s.neededFrom = min(s.neededFrom ?? from, from)
                s.writing.insert(episode)
                s.lastEpisodeSeen = max(s.lastEpisodeSeen, episode)
            }
            s.commands.append(command)
        }
        wakeup.signal()
    }

    // MARK: control

    /// Opens the directory, reads what is kept, and starts the writer thread. A directory that
    /// cannot be used degrades keeping (event) and is retried at the next episode.
    public func start() {
        guard isEnabled else { return }
        files.withLock { f in
            if f.dirFD < 0, let problem = openDirectory(&f) { setDegraded(&f, problem) }
        }
        started = true
        DaemonThread.start(name: "episode-writer") { [self] in
            writerLoop()
            done.signal()
        }
    }

    /// Finishes what is queued (the stream has ended: the samples are all in the ring), then
    /// stops the writer.
    public func stop() {
        guard started else { return }
        shared.withLock { $0.commands.append(.stop) }
        wakeup.signal()
        done.wait()
        started = false
    }

    /// The highest episode number with files in the directory (numbering goes on after it,
    /// so that a new episode never takes an old one's name).
    public func lastEpisodeOnDisk() -> Int {
        guard isEnabled else { return 0 }
        return files.withLock { f in
            if f.dirFD < 0 { _ = openDirectory(&f) }
            return f.kept.keys.max() ?? 0
        }
    }

    public func noteEpisodeNumbering(after number: Int) {
        shared.withLock { $0.lastEpisodeSeen = max($0.lastEpisodeSeen, number) }
    }

    public var degradedReason: String? { files.withLock { $0.degraded } }

    public struct Summary: Sendable, Equatable {
        public var kept = 0, bytes = 0, writing = 0
    }

    public var summary: Summary {
        let (kept, bytes) = files.withLock { ($0.kept.count, $0.kept.values.reduce(0, +)) }
        return Summary(kept: kept, bytes: bytes, writing: shared.withLock { $0.writing.count })
    }

    // MARK: labels

    public enum LabelError: Error, CustomStringConvertible, Equatable {
        case keepingOff
        case noEpisodes
        case unknown(Int, last: Int)
        case running(Int)
        case audioGone(Int)
        case io(String)

        public var description: String {
            switch self {
            case .keepingOff: return "episode audio is not kept ([episodes] keep_mb = 0): there is nothing to label"
            case .noEpisodes: return "no episode is kept yet: nothing to label"
            case .unknown(let n, let last):
                return last == 0 ? "unknown episode \(n): there has been no episode yet"
                    : "unknown episode \(n): the last episode is \(last)"
            case .running(let n): return "episode \(n) is still running or being written; label it once it has ended"
            case .audioGone(let n): return "the audio of episode \(n) is no longer kept (deleted to stay within [episodes] keep_mb, or never kept): it cannot be labelled"
            case .io(let s): return s
            }
        }
    }

    /// Adds `label` to an episode's sidecar (server thread). Returns the episode number and
    /// every label it has now; changes nothing on error.
    public func addLabel(_ label: EpisodeLabel, to reference: EpisodeReference) throws(LabelError) -> (Int, [String]) {
        guard isEnabled else { throw .keepingOff }
        let (lastSeen, writing) = shared.withLock { ($0.lastEpisodeSeen, $0.writing) }
        let result = files.withLock { f -> Result<(Int, [String]), LabelError> in
            let episode: Int
            switch reference {
            case .last:
                guard let last = f.kept.keys.max() else { return .failure(.noEpisodes) }
                episode = last
            case .number(let n): episode = n
            }
            guard f.kept[episode] != nil else {
                let last = max(lastSeen, f.kept.keys.max() ?? 0)
                if episode > last { return .failure(.unknown(episode, last: last)) }
                if writing.contains(episode) { return .failure(.running(episode)) }
                return .failure(.audioGone(episode))
            }
            let name = Self.sidecarName(episode)
            guard var sidecar = readJSON(f.dirFD, name), case .object(var members) = sidecar else {
                return .failure(.io("\(options.directory)/\(name): cannot be read as JSON; the label was not recorded"))
            }
            var labels = sidecar["labels"]?.arrayValue ?? []
            labels.append(.object([("ts", .string(WallClock.iso8601(millis: WallClock.nowMillis()))),
                                   ("label", .string(label.rawValue))]))
            if let i = members.firstIndex(where: { $0.0 == "labels" }) { members[i].1 = .array(labels) }
            else { members.append(("labels", .array(labels))) }
            sidecar = .object(members)
            if let problem = writeFileAtomically(f.dirFD, name, Array((sidecar.description + "\n").utf8)) {
                return .failure(.io("\(options.directory)/\(name): \(problem); the label was not recorded"))
            }
            f.kept[episode] = fileSize(f.dirFD, Self.audioName(episode)) + fileSize(f.dirFD, name)
            return .success((episode, labels.compactMap { $0["label"]?.stringValue }))
        }
        switch result {
        case .success(let r): return r
        case .failure(let e): throw e
        }
    }

    public static func audioName(_ n: Int) -> String { "episode-\(n).wav" }
    public static func sidecarName(_ n: Int) -> String { "episode-\(n).json" }

    // MARK: writer thread

    /// The episode being written.
    private struct Recording {
        var episode: Int
        var fd: Int32                   // -1: not keeping this one (failed)
        var partName: String
        var cursor: Int                 // next sample to write
        var fromSample: Int
        var onsetSample: Int
        var endSample: Int?
        var missing = 0
        var ts: Int64
        var tAudio: Double
        var duration = 0.0
        var peak: Double?
        var need: MonitorEvent?
        var models: [(String, String)]
        var dataBytes = 0
    }

    private func writerLoop() {
        var pending: [Command] = []
        var current: Recording?
        var buffer = [Int16](repeating: 0, count: 8192)
        var stopping = false
        while true {
            pending.append(contentsOf: shared.withLock { s -> [Command] in
                let c = s.commands
                s.commands.removeAll(keepingCapacity: true)
                return c
            })
            // Take commands in order; an episode's end is acted on once its samples are written.
            while let command = pending.first {
                switch command {
                case .start(let episode, let from, let onset, let ts, let tAudio, let models):
                    guard current == nil else { break }
                    pending.removeFirst()
                    current = begin(episode: episode, from: from, onset: onset, ts: ts, tAudio: tAudio, models: models)
                    continue
                case .need(let episode, let event):
                    pending.removeFirst()
                    if current?.episode == episode { current?.need = event }
                    continue
                case .end(let episode, let end, let duration, let peak):
                    if current?.episode == episode, current?.endSample == nil {
                        current?.endSample = end
                        current?.duration = duration
                        current?.peak = peak
                    }
                    pending.removeFirst()
                    continue
                case .stop:
                    pending.removeFirst()
                    stopping = true
                    continue
                }
                break
            }
            if var rec = current {
                writeAvailable(&rec, buffer: &buffer)
                if let end = rec.endSample, rec.cursor >= end {
                    finish(rec)
                    current = nil
                    _ = shared.withLock { $0.writing.remove(rec.episode) }
                    updateNeeded(current: nil, pending: pending)
                    continue   // the next queued episode at once
                }
                current = rec
            }
            updateNeeded(current: current, pending: pending)
            if stopping && current == nil && pending.isEmpty { return }
            if stopping, var rec = current, rec.endSample == nil {
                // The stream ended inside an episode without its end (cannot happen after the
                // pipeline's finish; kept as a guard): keep what there is.
                rec.endSample = rec.cursor
                current = rec
                continue
            }
            // Idle, only a command can give it work, and every command signals: no timed
            // wake-ups while nobody cries (issue 15). While writing, the ring is drained
            // every 50 ms.
            wakeup.wait(timeoutMillis: current == nil ? -1 : 50)
        }
    }

    /// The oldest sample still to be written: the current episode's cursor, or the start of
    /// an episode not begun yet (nil: none; only the pre-roll matters).
    private func updateNeeded(current: Recording?, pending: [Command]) {
        func from(_ c: Command) -> Int? {
            if case .start(_, let from, _, _, _, _) = c { return from }
            return nil
        }
        shared.withLock { s in
            let candidates = [current?.cursor].compactMap { $0 } + pending.compactMap(from) + s.commands.compactMap(from)
            s.neededFrom = candidates.min()
        }
    }

    private func begin(episode: Int, from: Int, onset: Int, ts: Int64, tAudio: Double,
                       models: [(String, String)]) -> Recording {
        var rec = Recording(episode: episode, fd: -1, partName: ".episode-\(episode).wav.part", cursor: from,
                            fromSample: from, onsetSample: onset, ts: ts, tAudio: tAudio, models: models)
        files.withLock { f in
            if f.dirFD < 0, let problem = openDirectory(&f) {
                setDegraded(&f, problem)
                return
            }
            // A leftover part file (a crash mid-episode) is ours to replace; unlinkat never
            // follows a symlink, and O_EXCL|O_NOFOLLOW refuses anything planted since.
            _ = unlinkat(f.dirFD, rec.partName, 0)
            let fd = openat(f.dirFD, rec.partName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
            guard fd >= 0 else {
                setDegraded(&f, "cannot create \(options.directory)/\(rec.partName): \(errnoText(errno))")
                return
            }
            let header = Self.wavHeader(dataBytes: 0, sampleRate: options.sampleRate)
            if let problem = writeAll(fd, header) {
                _ = close(fd)
                _ = unlinkat(f.dirFD, rec.partName, 0)
                setDegraded(&f, "cannot write \(options.directory)/\(rec.partName): \(problem)")
                return
            }
            rec.fd = fd
        }
        return rec
    }

    /// Writes the episode's samples that are in the ring, up to its end.
    private func writeAvailable(_ rec: inout Recording, buffer: inout [Int16]) {
        while true {
            let (count, lost) = shared.withLock { s -> (Int, Int) in
                let oldest = max(0, s.written - capacity)
                var lost = 0
                if rec.cursor < oldest { lost = oldest - rec.cursor; rec.cursor = oldest }
                let limit = min(s.written, rec.endSample ?? Int.max)
                let n = max(0, min(buffer.count, limit - rec.cursor))
                for i in 0..<n {
                    buffer[i] = samples[(rec.cursor + i) % capacity]
                }
                return (n, lost)
            }
            rec.missing += lost
            if lost > 0 && rec.fd >= 0 {
                // Keep the timeline: silence where the writer fell behind (a live stream does
                // not wait for the disk).
                let silence = [UInt8](repeating: 0, count: 2 * lost)
                if let problem = writeAll(rec.fd, silence) { abandon(&rec, problem) } else { rec.dataBytes += silence.count }
            }
            guard count > 0 else { return }
            rec.cursor += count
            if rec.fd >= 0 {
                let problem = buffer.withUnsafeBytes { raw in
                    writeAll(rec.fd, UnsafeRawBufferPointer(rebasing: raw[0..<(2 * count)]))
                }
                if let problem { abandon(&rec, problem) } else { rec.dataBytes += 2 * count }
            }
        }
    }

    /// Stops keeping an episode whose file could not be written (the disk is full...).
    private func abandon(_ rec: inout Recording, _ problem: String) {
        _ = close(rec.fd)
        rec.fd = -1
        files.withLock { f in
            _ = unlinkat(f.dirFD, rec.partName, 0)
            setDegraded(&f, "cannot write \(options.directory)/\(rec.partName): \(problem); episode \(rec.episode)'s audio is not kept")
        }
    }

    private func finish(_ rec: Recording) {
        guard rec.fd >= 0 else { return }
        let fd = rec.fd
        // The end is known only after the hangover: samples past it were written already.
        let dataBytes = min(rec.dataBytes, 2 * max(0, (rec.endSample ?? rec.cursor) - rec.fromSample))
        let header = Self.wavHeader(dataBytes: dataBytes, sampleRate: options.sampleRate)
        var problem: String?
        if ftruncate(fd, off_t(header.count + dataBytes)) != 0 {
            problem = "cannot cut the audio at the episode's end: \(errnoText(errno))"
        } else if header.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) != header.count {
            problem = "cannot finish the WAV header: \(errnoText(errno))"
        } else if fsync(fd) != 0 {
            problem = "fsync: \(errnoText(errno))"
        }
        _ = close(fd)
        let rate = Double(options.sampleRate)
        files.withLock { f in
            let audio = Self.audioName(rec.episode), side = Self.sidecarName(rec.episode)
            if problem == nil {
                let json = sidecar(rec, rate: rate)
                problem = writeFileAtomically(f.dirFD, side, Array((json.description + "\n").utf8))
            }
            if problem == nil, renameat(f.dirFD, rec.partName, f.dirFD, audio) != 0 {
                problem = "cannot rename \(rec.partName) to \(audio): \(errnoText(errno))"
                _ = unlinkat(f.dirFD, side, 0)
            }
            if let problem {
                _ = unlinkat(f.dirFD, rec.partName, 0)
                setDegraded(&f, "\(options.directory): \(problem); episode \(rec.episode)'s audio is not kept")
                return
            }
            f.kept[rec.episode] = fileSize(f.dirFD, audio) + fileSize(f.dirFD, side)
            enforceQuota(&f)
            if let was = f.degraded {
                f.degraded = nil
                publish(.degraded(component: "episodes", reason: "episode audio is kept again (was: \(was))", recovered: true))
            }
        }
    }

    private func sidecar(_ rec: Recording, rate: Double) -> JSONValue {
        var need: JSONValue = .null
        if let n = rec.need {
            need = .object([("label", n["label"] ?? .null), ("confidence", n["confidence"] ?? .null),
                            ("probs", n["probs"] ?? .null)])
        }
        return .object([
            ("v", .number(1)),
            ("episode", .number(Double(rec.episode))),
            ("ts", .string(WallClock.iso8601(millis: rec.ts))),
            ("t_audio", .fixed(rec.tAudio, decimals: 3)),
            ("duration_s", .fixed(rec.duration, decimals: 3)),
            ("peak_p_cry", rec.peak.map { .fixed($0, decimals: 4) } ?? .null),
            ("need", need),
            ("audio", .string(Self.audioName(rec.episode))),
            ("sample_rate", .number(rate)),
            ("audio_start_t", .fixed(Double(rec.fromSample) / rate, decimals: 3)),
            ("onset_offset_s", .fixed(Double(rec.onsetSample - rec.fromSample) / rate, decimals: 3)),
            ("missing_samples", .number(Double(rec.missing))),
            ("models", .object(rec.models.map { ($0.0, JSONValue.string($0.1)) })),
            ("labels", .array([])),
        ])
    }

    /// Deletes the oldest episodes until the kept ones fit in `keepBytes`.
    private func enforceQuota(_ f: inout Files) {
        var total = f.kept.values.reduce(0, +)
        for episode in f.kept.keys.sorted() where total > options.keepBytes {
            _ = unlinkat(f.dirFD, Self.audioName(episode), 0)
            _ = unlinkat(f.dirFD, Self.sidecarName(episode), 0)
            total -= f.kept[episode] ?? 0
            f.kept[episode] = nil
        }
    }

    private func setDegraded(_ f: inout Files, _ problem: String) {
        let first = f.degraded == nil
        f.degraded = problem
        if first { publish(.degraded(component: "episodes", reason: problem)) }
    }

    // MARK: files

    /// Opens (creating it and its parents if needed) the directory without following a
    /// symlink at its last component, and lists the kept episodes. Returns the problem.
    private func openDirectory(_ f: inout Files) -> String? {
        let path = options.directory
        var fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 && errno == ENOENT {
            makeDirectories(path)
            fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP || code == ENOTDIR { return "episodes directory \(path) is not a directory (a symlink is refused)" }
            return "cannot open the episodes directory \(path): \(errnoText(code))"
        }
        f.dirFD = fd
        f.kept = [:]
        for name in listDirectory(fd) {
            guard let n = Self.episodeNumber(name) else { continue }
            f.kept[n, default: 0] += fileSize(fd, name)
        }
        // An episode needs both files; a lone one (a crash between them) is not kept.
        for n in Array(f.kept.keys) where fileSize(fd, Self.audioName(n)) == 0 || fileSize(fd, Self.sidecarName(n)) == 0 {
            f.kept[n] = nil
        }
        return nil
    }

    /// `episode-12.wav` / `episode-12.json` -> 12.
    static func episodeNumber(_ name: String) -> Int? {
        guard name.hasPrefix("episode-") else { return nil }
        var rest = name.dropFirst("episode-".count)
        if rest.hasSuffix(".wav") { rest = rest.dropLast(4) } else if rest.hasSuffix(".json") { rest = rest.dropLast(5) } else { return nil }
        guard let n = Int(rest), n >= 1, String(n) == rest else { return nil }
        return n
    }

    private func makeDirectories(_ path: String) {
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            prefix += (prefix.isEmpty && path.hasPrefix("/") ? "" : (prefix.isEmpty ? "" : "/")) + part
            if prefix.isEmpty { prefix = "/"; continue }
            if prefix == "/" { continue }
            _ = mkdir(prefix, 0o750)
        }
    }

    static func wavHeader(dataBytes: Int, sampleRate: Int) -> [UInt8] {
        var b: [UInt8] = []
        func ascii(_ s: String) { b.append(contentsOf: Array(s.utf8)) }
        func u16(_ v: Int) { b.append(UInt8(v & 0xFF)); b.append(UInt8((v >> 8) & 0xFF)) }
        func u32(_ v: Int) { u16(v & 0xFFFF); u16((v >> 16) & 0xFFFF) }
        ascii("RIFF"); u32(36 + dataBytes); ascii("WAVE")
        ascii("fmt "); u32(16); u16(1); u16(1); u32(sampleRate); u32(sampleRate * 2); u16(2); u16(16)
        ascii("data"); u32(dataBytes)
        return b
    }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> String? {
    bytes.withUnsafeBytes { writeAll(fd, $0) }
}

/// write(2) until done; the problem, or nil.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> String? {
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        if n < 0 {
            if errno == EINTR { continue }
            return errnoText(errno)
        }
        if n == 0 { return "short write" }
        off += n
    }
    return nil
}

/// Writes `name` in `dirFD` through a temporary file (O_EXCL|O_NOFOLLOW) renamed over it.
func writeFileAtomically(_ dirFD: Int32, _ name: String, _ bytes: [UInt8]) -> String? {
    let temp = "." + name + ".tmp"
    _ = unlinkat(dirFD, temp, 0)
    let fd = openat(dirFD, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
    guard fd >= 0 else { return "cannot create \(temp): \(errnoText(errno))" }
    if let problem = writeAll(fd, bytes) {
        _ = close(fd)
        _ = unlinkat(dirFD, temp, 0)
        return "cannot write \(temp): \(problem)"
    }
    _ = fsync(fd)
    _ = close(fd)
    guard renameat(dirFD, temp, dirFD, name) == 0 else {
        let code = errno
        _ = unlinkat(dirFD, temp, 0)
        return "cannot rename \(temp): \(errnoText(code))"
    }
    return nil
}

/// A regular file's size in `dirFD` (0 when missing or not a regular file; symlinks not followed).
func fileSize(_ dirFD: Int32, _ name: String) -> Int {
    var st = stat()
    guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return 0 }
    return Int(st.st_size)
}

/// Reads a small JSON file in `dirFD` without following a symlink.
func readJSON(_ dirFD: Int32, _ name: String, limit: Int = 1 << 20) -> JSONValue? {
    let fd = openat(dirFD, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { _ = close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while bytes.count <= limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[..<n])
    }
    guard bytes.count <= limit, let text = String(validating: bytes, as: UTF8.self) else { return nil }
    return try? JSONValue.parse(text.trimmingSuffixNewlines())
}

/// The names in a directory (a duplicate descriptor, so `dirFD` stays open).
func listDirectory(_ dirFD: Int32) -> [String] {
    let dup = fcntl(dirFD, F_DUPFD_CLOEXEC, 0)
    guard dup >= 0, let dir = fdopendir(dup) else { return [] }
    defer { closedir(dir) }
    rewinddir(dir)
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

private func isEnabledFor(_ o: EpisodeRecorder.Options) -> Bool { o.keepBytes > 0 }

/// A sample as the files keep it, clipped: x16 = round(clamp(x, -1, 1) * 32767)
@inline(__always)
private func sixteenBit(_ x: Float) -> Int16 { Int16((min(1, max(-1, x)) * 32767).rounded()) }

extension String {
    func trimmingSuffixNewlines() -> String {
        var s = Substring(self)
        while s.last == "\n" || s.last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
