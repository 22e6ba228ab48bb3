#if canImport(Glibc)
import Glibc
#endif
import ThreadSupport
import ControlProtocol

/// `{"cmd":"adapt"}` / `monitorctl adapt`: runs `crymodel adapt` on the kept episodes as a
/// child of the daemon at the lowest CPU priority (nice 19), one at a time, keeps its last
/// progress line for the status, and when it ends reloads the models it wrote (the reload
/// swaps them between frames, as `monitorctl reload` does). The audio path never waits for
/// it: the child is a separate process; a thread of the daemon reads its stderr and waits
/// for it.
final class AdaptationRunner: @unchecked Sendable {
    // @unchecked: all mutable state is in `state` (locked).
    private let state = Locked(AdaptationStatus())
    private let startedAt = Locked(0.0)
    private let config: DaemonConfig
    /// Called on the runner's thread when the child wrote models (exit 0 or 1).
    private let reload: @Sendable () -> Result<ModelSet, ControlRefusal>

    init(config: DaemonConfig, reload: @escaping @Sendable () -> Result<ModelSet, ControlRefusal>) {
        self.config = config
        self.reload = reload
    }

    var status: AdaptationStatus {
        var s = state.withLock { $0 }
        if s.state == "running" { s.seconds = monotonicSeconds() - startedAt.withLock { $0 } }
        return s
    }

    /// The program to run: `[models] crymodel`, else `crymodel` beside this executable,
    /// else the first `crymodel` on PATH.
    static func crymodelPath(configured: String?) -> String? {
        if let configured { return access(configured, X_OK) == 0 ? configured : nil }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 {
            let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let slash = exe.lastIndex(of: "/") {
                let beside = String(exe[..<slash]) + "/crymodel"
                if access(beside, X_OK) == 0 { return beside }
            }
        }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = String(dir) + "/crymodel"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// The child's arguments (argv[0] included).
    func arguments(crymodel: String) -> [String] {
        var args = [crymodel, "adapt", "--episodes", config.episodes.dir,
                    "--detector", config.models.detector ?? "", "--cause", config.models.cause ?? "",
                    "--out-dir", config.models.adaptedDir, "--no-evaluate"]
        if let steps = config.models.adaptSteps { args += ["--steps", String(steps)] }
        return args
    }

    /// Starts the child, or says why not (nothing changes then).
    func start() -> Result<AdaptationStatus, ControlRefusal> {
        guard config.models.detector != nil, config.models.cause != nil else {
            return .failure(ControlRefusal("adapt needs both [models] detector and cause (the shipped models it starts from)"))
        }
        guard config.episodes.keepMB > 0 else {
            return .failure(ControlRefusal("no episode audio is kept ([episodes] keep_mb = 0): nothing to adapt on"))
        }
        guard let crymodel = Self.crymodelPath(configured: config.models.crymodel) else {
            return .failure(ControlRefusal("cannot find the crymodel program (\(config.models.crymodel ?? "beside babymonitord or on PATH")); set [models] crymodel"))
        }
        return state.withLock { s -> Result<AdaptationStatus, ControlRefusal> in
            if s.state == "running" {
                return .failure(ControlRefusal("an adaptation is already running (pid \(s.pid ?? 0)); see monitorctl status"))
            }
            var pipeFDs: [Int32] = [-1, -1]
            guard pipe(&pipeFDs) == 0 else {
                return .failure(ControlRefusal("adapt: pipe: \(String(cString: strerror(errno)))"))
            }
            // Neither end leaks into the child as such (its stderr is a dup2 of the write end).
            for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            let args = arguments(crymodel: crymodel)
            let spawned = Self.spawn(args, stderrFD: pipeFDs[1])
            close(pipeFDs[1])
            guard case .success(let pid) = spawned else {
                close(pipeFDs[0])
                if case .failure(let e) = spawned { return .failure(e) }
                return .failure(ControlRefusal("adapt: cannot start \(crymodel)"))
            }
            // Lowest CPU priority: the audio path and everything else on the board come first.
            // (The shipped unit re-allows setpriority in its seccomp filter for this.)
            var note = ""
            if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(pid), 19) != 0 {
                note = " (at normal priority: setpriority: \(String(cString: strerror(errno))))"
            }
            s = AdaptationStatus(state: "running")
            s.pid = Int(pid)
            s.progress = "started" + note
            startedAt.withLock { $0 = monotonicSeconds() }
            let readFD = pipeFDs[0]
            DaemonThread.start(name: "adapt") { [self] in self.follow(pid: pid, stderrFD: readFD) }
            var answer = s
            answer.seconds = 0
            return .success(answer)
        }
    }

    /// Stops a running child (daemon shutdown): SIGTERM, then its thread reaps it.
    func stop() {
        if let pid = state.withLock({ $0.state == "running" ? $0.pid : nil }) { kill(pid_t(pid), SIGTERM) }
    }

    /// On the runner's thread: the child's stderr lines become progress; its exit the result.
    private func follow(pid: pid_t, stderrFD: Int32) {
        var pending: [UInt8] = []
        var lastLines: [String] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(stderrFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending += buf[0..<n]
            while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                if line.hasPrefix("crymodel adapt: ") { line.removeFirst("crymodel adapt: ".count) }
                if line.hasPrefix("crymodel: ") { line.removeFirst("crymodel: ".count) }
                guard !line.isEmpty else { continue }
                lastLines = Array((lastLines + [line]).suffix(4))
                state.withLock { $0.progress = line }
            }
        }
        close(stderrFD)
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let exited = (raw & 0x7f) == 0
        let code = exited ? Int((raw >> 8) & 0xff) : -1
        let seconds = monotonicSeconds() - startedAt.withLock { $0 }
        var result: String
        var final: String
        switch code {
        case 0:
            final = "done"
            result = "adapted models written to \(config.models.adaptedDir)"
        case 1:
            final = "refused"
            result = lastLines.filter { $0.contains("does worse") }.joined(separator: "; ")
            if result.isEmpty { result = lastLines.last ?? "a model was refused" }
        default:
            final = "failed"
            result = exited ? "crymodel adapt exited \(code): \(lastLines.last ?? "")"
                : "crymodel adapt was killed by signal \(raw & 0x7f)"
        }
        if code == 0 || code == 1 {
            // What it wrote replaces what is in use (a refused model is not written: the one
            // in use stays).
            switch reload() {
            case .success(let set): result += "; reloaded (adapted: \(set.adaptedRoles.isEmpty ? "none" : set.adaptedRoles.joined(separator: ", ")))"
            case .failure(let refusal): result += "; reload refused: \(refusal.description)"
            }
        }
        state.withLock {
            $0.state = final
            $0.pid = nil
            $0.exitStatus = code
            $0.result = result
            $0.seconds = seconds
        }
    }

    /// posix_spawn with default signal handling and an empty signal mask (the daemon blocks
    /// its signals for signal handling), stdin and stdout on /dev/null, stderr to `stderrFD`.
    static func spawn(_ args: [String], stderrFD: Int32) -> Result<pid_t, ControlRefusal> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stderrFD, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        // No POSIX_SPAWN_SETSCHEDULER: the caller (the control server's thread) is SCHED_OTHER
        // (only the capture thread asks for SCHED_FIFO), and the unit's seccomp filter denies
        // sched_setscheduler, which would make the spawn itself fail.
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, args[0], &actions, &attr, &cArgs, environ)
        guard code == 0 else { return .failure(ControlRefusal("adapt: cannot start \(args[0]): \(String(cString: strerror(code)))")) }
        return .success(pid)
    }
}
