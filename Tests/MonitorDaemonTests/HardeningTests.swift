import Testing
import Foundation
import AudioIO
import ThreadSupport
import ControlProtocol
import FileSafety
@testable import MonitorDaemon

/// Issue 16: what an adversarial probe of the daemon and tools found, each reproduced
/// against the real code and binaries.
@Suite(.serialized) struct HardeningTests {
    static let energyOnly = "[audio]\nsample_rate = 8000\n[detector]\nenergy_only = true\n"
    /// Under ThreadSanitizer (scripts/tsan) a program cannot run with a limited address
    /// space: the memory bounds are then not enforced (the normal run checks them).
    static let addressSpaceLimit = ProcessInfo.processInfo.environment["TSAN_OPTIONS"] == nil
        ? "ulimit -v 3000000; " : ""

    static func toneWAV(_ dir: String, seconds: Double = 2) throws -> String {
        let wav = dir + "/tone.wav"
        try DaemonProcessTests.writeTone(wav, seconds: seconds, rate: 8000)
        return wav
    }

    /// Runs a program to its end (SIGTERM after `seconds`, then SIGKILL: a hang fails the
    /// test instead of hanging it); exit status and combined output.
    static func run(_ path: String, _ arguments: [String], seconds: Double = 60) throws -> (status: Int32, output: String, signalled: Bool) {
        let dir = makeTempDirectory("bmrun"); defer { removeTree(dir) }
        let out = dir + "/out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = p.standardOutput
        var env = ProcessInfo.processInfo.environment
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "BABYMONITOR_FAULT_INJECT"] { env.removeValue(forKey: name) }
        p.environment = env
        try p.run()
        if !waitUntil(seconds: seconds, { !p.isRunning }) {
            kill(p.processIdentifier, SIGTERM)
            if !waitUntil(seconds: 5, { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
        }
        p.waitUntilExit()
        return (p.terminationStatus, readFile(out) ?? "", p.terminationReason == .uncaughtSignal)
    }

    static func daemon(_ arguments: [String], seconds: Double = 60) throws -> (status: Int32, output: String, signalled: Bool) {
        try run(try DaemonProcessTests.tool("babymonitord"), arguments, seconds: seconds)
    }

    /// A launcher (for `DaemonProcessTests.start`, or before a program's path) that runs its
    /// command with `soname` unloadable: /dev/null bind-mounted over the library in a private
    /// mount namespace, so nothing else on the machine is affected. nil, with a "skipped"
    /// line, when the library is not installed or there is no root / unshare(1) here.
    static func launcherHiding(_ soname: String) throws -> [String]? {
        let cache = try run("/sbin/ldconfig", ["-p"], seconds: 20)
        let line = cache.output.split(separator: "\n").first { $0.contains(soname + " (") }
        guard let line, let arrow = line.range(of: "=> ") else {
            print("skipped: \(soname) is not installed"); return nil
        }
        let library = line[arrow.upperBound...].trimmingCharacters(in: .whitespaces)
        let launcher = ["/usr/bin/unshare", "-m", "/bin/sh", "-c", "mount --bind /dev/null \"$0\" && exec \"$@\"", library]
        let probe = try run(launcher[0], Array(launcher.dropFirst()) + ["/bin/true"], seconds: 20)
        guard probe.status == 0 else {
            print("skipped: hiding \(soname) needs root and a private mount namespace (unshare -m): \(probe.output)"); return nil
        }
        return launcher
    }

    static func event(_ i: Int) -> MonitorEvent { MonitorEvent(type: "test", fields: [("seq", .number(Double(i)))]) }

    // MARK: 1. symlinks and other files the daemon must not write through

    @Test func eventLogSymlinkIsRefusedAndTheTargetUntouched() throws {
        let dir = makeTempDirectory("bmh1"); defer { removeTree(dir) }
        let victim = dir + "/victim", log = dir + "/ev.jsonl"
        try "keep\n".write(toFile: victim, atomically: false, encoding: .utf8)
        symlink(victim, log)
        let r = try Self.daemon(["--config", Integration.writeConfig(dir, Self.energyOnly), "--input", "wav:" + (try Self.toneWAV(dir)),
                                 "--pace", "fast", "--event-log", log, "--socket", dir + "/c.sock"])
        #expect(r.status == 74 && !r.signalled, "\(r.output)")
        #expect(r.output.contains("\(log): is a symbolic link; refusing to follow it"), "\(r.output)")
        #expect(readFile(victim) == "keep\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/c.sock"))
    }

    @Test func eventLogFIFOAndUnsafeDirectoryAreRefused() throws {
        let dir = makeTempDirectory("bmh1"); defer { removeTree(dir) }
        let fifo = dir + "/ev.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let config = Integration.writeConfig(dir, Self.energyOnly), wav = try Self.toneWAV(dir)
        let r = try Self.daemon(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                 "--event-log", fifo, "--socket", dir + "/c.sock"], seconds: 30)
        #expect(r.status == 74 && !r.signalled, "\(r.output)")
        #expect(r.output.contains("FIFO"), "\(r.output)")

        let open = dir + "/open"
        mkdir(open, 0o777)
        chmod(open, 0o777)   // world-writable, not sticky
        let r2 = try Self.daemon(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                  "--event-log", open + "/ev.jsonl", "--socket", dir + "/c.sock"])
        #expect(r2.status == 74, "\(r2.output)")
        #expect(r2.output.contains("writable by everyone and not sticky"), "\(r2.output)")
        #expect(!FileManager.default.fileExists(atPath: open + "/ev.jsonl"))
    }

    /// After a rotation, a SIGHUP or a deletion the log is reopened by path: a symlink or a
    /// hard link planted there in between is refused, the log degrades, nothing is written
    /// through it.
    @Test func reopenedAndRotatedLogsNeverFollowALink() throws {
        let dir = makeTempDirectory("bmh1"); defer { removeTree(dir) }
        let victim = dir + "/victim", path = dir + "/ev.jsonl"
        try "keep\n".write(toFile: victim, atomically: false, encoding: .utf8)
        let log = EventLog(path: path, maxBytes: 200, keep: 2)
        for i in 0..<10 { #expect(log.append(Self.event(i))) }   // rotates a few times
        #expect(FileManager.default.fileExists(atPath: path + ".1"))
        unlink(path)
        symlink(victim, path)
        #expect(!log.append(Self.event(10)))
        #expect(log.degradedReason?.contains("symbolic link") == true, "\(log.degradedReason ?? "")")
        log.reopen()   // SIGHUP
        #expect(!log.retryPending())
        unlink(path)
        link(victim, path)   // a hard link is the same attack
        #expect(!log.retryPending())
        #expect(log.degradedReason?.contains("hard links") == true, "\(log.degradedReason ?? "")")
        #expect(readFile(victim) == "keep\n")
        unlink(path)
        #expect(log.retryPending())   // a plain file again: everything pending is written
        let lines = [path, path + ".1", path + ".2"].flatMap { (readFile($0) ?? "").split(separator: "\n") }
        #expect(lines.contains { $0.contains("\"seq\":10") })
    }

    @Test func safeFileRefusals() throws {
        let dir = makeTempDirectory("bmh1"); defer { removeTree(dir) }
        let target = dir + "/target"
        try "x".write(toFile: target, atomically: false, encoding: .utf8)
        symlink(target, dir + "/link")
        #expect(throws: FileSafetyError.self) { try SafeFile.openForAppend(dir + "/link") }
        #expect(throws: FileSafetyError.self) { try SafeFile.createNew(target) }
        #expect(throws: FileSafetyError.self) { try SafeFile.createNew(dir + "/link") }
        mkfifo(dir + "/fifo", 0o600)
        #expect(throws: FileSafetyError.self) { try SafeFile.openForAppend(dir + "/fifo") }
        #expect(throws: FileSafetyError.self) { try SafeFile.openRegularForReading(dir + "/fifo") }
        #expect(throws: FileSafetyError.self) { try SafeFile.openRegularForReading("/dev/zero") }
        #expect(throws: FileSafetyError.self) { try SafeFile.readAll(target, maxBytes: 0) }
        let fd = try SafeFile.createNew(dir + "/new.wav")
        #expect(fd >= 0)
        closeDescriptor(fd)
        let fd2 = try SafeFile.openForAppend(dir + "/new.wav")
        closeDescriptor(fd2)
    }

    // MARK: 2. no whole-file reads before checks; non-regular files refused

    @Test func crymodelRefusesDevicesFIFOsAndHugeFilesBeforeReadingThem() throws {
        let dir = makeTempDirectory("bmh2"); defer { removeTree(dir) }
        let crymodel = try DaemonProcessTests.tool("crymodel")
        // Under a 3 GB address-space limit, a whole-file read of 4 GB cannot succeed.
        func limited(_ args: [String]) throws -> (Int32, String, Bool) {
            try Self.run("/bin/sh", ["-c", Self.addressSpaceLimit + "exec \"$0\" \"$@\"", crymodel] + args, seconds: 60)
        }
        let zero = try limited(["features", "/dev/zero"])
        #expect(zero.0 == 65 && !zero.2, "\(zero.1)")
        #expect(zero.1.contains("is a character device, not a regular file"), "\(zero.1)")

        let sparse = dir + "/sparse.wav"
        let fd = open(sparse, O_WRONLY | O_CREAT, 0o600)
        #expect(ftruncate(fd, 4 << 30) == 0)
        close(fd)
        let big = try limited(["features", sparse])
        #expect(big.0 == 65 && !big.2, "\(big.1)")
        #expect(big.1.contains("not a RIFF file"), "\(big.1)")

        let model = try limited(["inspect", sparse])
        #expect(model.0 != 0 && !model.2, "\(model.1)")
        #expect(model.1.contains("more than the \(256 << 20) bytes a model file can be"), "\(model.1)")
        let zeroModel = try limited(["inspect", "/dev/zero"])
        #expect(zeroModel.0 != 0 && !zeroModel.2 && zeroModel.1.contains("character device"), "\(zeroModel.1)")

        let fifo = dir + "/f.wav"
        mkfifo(fifo, 0o600)
        let piped = try limited(["features", fifo])
        #expect(piped.0 == 65 && !piped.2 && piped.1.contains("FIFO"), "\(piped.1)")
    }

    @Test func daemonRefusesAHugeOrFIFOConfigAndHugeModel() throws {
        let dir = makeTempDirectory("bmh2"); defer { removeTree(dir) }
        let huge = dir + "/huge.toml"
        try ("# padding\n" + String(repeating: "#", count: 2 << 20) + "\n").write(toFile: huge, atomically: false, encoding: .utf8)
        let r = try Self.daemon(["--config", huge, "--input", "wav:/nonexistent.wav", "--socket", dir + "/s"])
        #expect(r.status == 78, "\(r.output)")
        #expect(r.output.contains("\(huge): is \(2 << 20 + 11) bytes, more than the 1048576 bytes a configuration file can be"), "\(r.output)")

        let fifo = dir + "/fifo.toml"
        mkfifo(fifo, 0o600)
        let r2 = try Self.daemon(["--config", fifo, "--input", "wav:/nonexistent.wav", "--socket", dir + "/s"], seconds: 30)
        #expect(r2.status == 78 && !r2.signalled, "\(r2.output)")
        #expect(r2.output.contains("FIFO"), "\(r2.output)")

        let model = dir + "/big.safetensors"
        let fd = open(model, O_WRONLY | O_CREAT, 0o600)
        #expect(ftruncate(fd, 4 << 30) == 0)
        close(fd)
        let config = Integration.writeConfig(dir, "[models]\ndetector = \"big.safetensors\"\n")
        let r3 = try Self.daemon(["--config", config, "--input", "wav:/nonexistent.wav", "--socket", dir + "/s"])
        #expect(r3.status == 78, "\(r3.output)")
        #expect(r3.output.contains("models.detector") && r3.output.contains("bytes a model file can be"), "\(r3.output)")
    }

    // MARK: 3. resampling memory does not grow with the rate ratio

    @Test func replayResamplingHoldsABoundedBlock() throws {
        let dir = makeTempDirectory("bmh3"); defer { removeTree(dir) }
        let wav = dir + "/low.wav"
        try WAVWriter.write(AudioBuffer(samples: [Float](repeating: 0.1, count: 20_000), sampleRate: 1000), to: wav)
        let source = try WAVReplaySource(path: wav, sampleRate: 192_000)
        var block = [Float](repeating: 0, count: 160)
        var most = 0
        var total = 0
        while true {
            let n = try block.withUnsafeMutableBufferPointer { try source.read(into: $0) }
            if n == 0 { break }
            total += n
            most = max(most, source.heldSamples)
        }
        #expect(abs(total - 20_000 * 192) < 400)
        // One block fed at a time (16 input samples -> 3072 output), not 4096 -> 786432.
        #expect(most <= 8192, "held \(most) samples")
    }

    // MARK: 4. the client table cannot be locked

    @Test func tricklingClientsAreClosedAndStatusAlwaysAnswers() throws {
        let dir = makeTempDirectory("bmh4"); defer { removeTree(dir) }
        let sock = dir + "/c.sock"
        let run = try DaemonProcessTests.start(["--config", Integration.writeConfig(dir, Self.energyOnly), "--input", "alsa:nosuchpcm-for-test",
                                                "--event-log", dir + "/ev.jsonl", "--socket", sock], in: dir)
        defer { run.stop() }
        _ = try #require(Integration.client(sock), "\(run.errorText)")
        // The probe: 256 clients (the limit) each sending one byte and no more.
        var hogs: [SocketAbuseTests.RawConnection] = []
        for _ in 0..<256 {
            let c = try SocketAbuseTests.RawConnection(sock)
            try c.send(Array("{".utf8))
            hogs.append(c)
        }
        // The table is full: the parent's status still gets an answer (the reserved slot).
        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "status"])
        #expect(code == 0 && text.contains("alsa:nosuchpcm-for-test"), "\(text)")
        // And the hogs are closed after a few seconds with an error line saying why.
        let line = hogs[0].readLine() ?? ""
        #expect(line.contains("no complete request within 5 s"), "\(line)")
        #expect(hogs[0].readLine() == nil)
        #expect(waitUntil(seconds: 20) { run.errorText.contains("client dropped: no complete request") }, "\(run.errorText)")
        hogs.removeAll()
        #expect(Integration.terminate(run) == 0, "\(run.errorText)")
    }

    @Test func reservedSlotAnswersOneStatusAndRefusesSubscribe() throws {
        let dir = makeTempDirectory("bmh4"); defer { removeTree(dir) }
        var options = ControlServer.Options(path: dir + "/c.sock")
        options.maxClients = 3
        options.idleTimeoutSeconds = 600
        options.requestTimeoutSeconds = 600
        let server = try ControlServer(options: options, handlers: ControlServerTests.handlers())
        try server.start()
        defer { server.stop() }
        let hogs = try (0..<3).map { _ in try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 20) }
        for h in hogs { #expect(try h.status().version == "test") }
        let parent = try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 20)
        #expect(try parent.status().version == "test")
        #expect(try parent.readLine() == nil)   // one answer, then the slot is free again
        let greedy = try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 20)
        #expect(throws: ControlClientError.self) { try greedy.request(.subscribe) }
        for h in hogs { #expect(try h.status().version == "test") }   // the others are untouched
    }

    @Test func idleConnectionsTimeOut() throws {
        let dir = makeTempDirectory("bmh4"); defer { removeTree(dir) }
        var options = ControlServer.Options(path: dir + "/c.sock")
        options.requestTimeoutSeconds = 0.3
        options.idleTimeoutSeconds = 0.6
        let logged = Locked<[String]>([])
        options.dropLog = { line in logged.withLock { $0.append(line) } }
        let server = try ControlServer(options: options, handlers: ControlServerTests.handlers())
        try server.start()
        defer { server.stop() }
        let silent = try SocketAbuseTests.RawConnection(options.path)
        #expect(silent.readLine()?.contains("no complete request within 0.3 s") == true)
        let asked = try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 20)
        #expect(try asked.status().version == "test")
        #expect(try asked.readLine()?.contains("idle for 0.6 s") == true)
        let subscriber = try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 2)
        #expect(try subscriber.request(.subscribe)["ok"]?.boolValue == true)
        #expect(throws: ControlClientError.self) { try subscriber.readLine() }   // a timeout: still connected
        server.publish(Self.event(1))
        #expect(try subscriber.readLine()?.contains("\"seq\":1") == true)
        #expect(logged.withLock { $0.count } >= 1)
    }

    // MARK: 5. monitorctl against closed, silent and flooding servers

    /// A listening socket the test controls: `serve` runs on each accepted connection.
    final class FakeServer: @unchecked Sendable {
        let fd: Int32
        let path: String
        init(path: String, serve: @escaping @Sendable (Int32) -> Void) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            let rc = try UnixSocketAddress.with(path: path) { bind(fd, $0, $1) }
            try #require(rc == 0 && listen(fd, 8) == 0)
            let listener = fd
            Thread {
                while true {
                    let c = accept(listener, nil, nil)
                    if c < 0 { return }
                    serve(c)
                }
            }.start()
        }
        func stop() { shutdown(fd, Int32(SHUT_RDWR)); closeDescriptor(fd) }
    }

    @Test func monitorctlTimesOutSurvivesClosedConnectionsAndCapsReplies() throws {
        let dir = makeTempDirectory("bmh5"); defer { removeTree(dir) }
        let held = Locked<[Int32]>([])
        let silent = try FakeServer(path: dir + "/silent.sock") { c in held.withLock { $0.append(c) } }
        defer { silent.stop() }
        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", silent.path, "--timeout", "1", "status"])
        #expect(code == 69 && text.contains("no answer from the daemon at \(silent.path) within 1 s"), "\(text)")

        // The daemon at its client limit: an error line, then the connection is closed
        // before monitorctl has written (it must not die of SIGPIPE).
        let closing = try FakeServer(path: dir + "/closing.sock") { c in
            var line = Array(ControlResponse.error("too many clients (256)").utf8)
            _ = send(c, &line, line.count, Int32(MSG_NOSIGNAL))
            shutdown(c, Int32(SHUT_RDWR))
            closeDescriptor(c)
        }
        defer { closing.stop() }
        for _ in 0..<5 {
            let (c2, t2) = try DaemonProcessTests.monitorctl(["--socket", closing.path, "--timeout", "5", "status"])
            #expect(c2 == 69 || c2 == 1, "\(c2) \(t2)")
            #expect(t2.contains("monitorctl:"), "\(t2)")
        }

        // 200 MB without a newline: refused at the cap, not held in memory. (Not under
        // ThreadSanitizer: 64 MiB through instrumented code takes minutes.)
        guard ProcessInfo.processInfo.environment["TSAN_OPTIONS"] == nil else {
            for c in held.withLock({ $0 }) { closeDescriptor(c) }
            return
        }
        let flood = try FakeServer(path: dir + "/flood.sock") { c in
            Thread {
                var chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
                for _ in 0..<200 where chunk.withUnsafeMutableBytes({ send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 {}
                closeDescriptor(c)
            }.start()
        }
        defer { flood.stop() }
        let ctl = try DaemonProcessTests.tool("monitorctl")
        let r = try Self.run("/bin/sh", ["-c", Self.addressSpaceLimit + "exec \"$0\" \"$@\"", ctl, "--socket", flood.path, "status"])
        #expect(r.status == 1 && !r.signalled, "\(r.output)")
        #expect(r.output.contains("a reply line longer than \(64 << 20) bytes"), "\(r.output)")
        for c in held.withLock({ $0 }) { closeDescriptor(c) }
    }

    @Test func monitorctlSaysPermissionDenied() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            print("skipped: needs root and setpriv to run monitorctl as another user"); return
        }
        let dir = makeTempDirectory("bmh5"); defer { removeTree(dir) }
        chmod(dir, 0o755)
        var options = ControlServer.Options(path: dir + "/c.sock")
        options.mode = 0o660
        let server = try ControlServer(options: options, handlers: ControlServerTests.handlers())
        try server.start()
        defer { server.stop() }
        let r = try Self.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                  try DaemonProcessTests.tool("monitorctl"), "--socket", options.path, "status"])
        guard !r.output.contains("Permission denied") || r.output.contains("monitorctl") else {
            print("skipped: nobody cannot run the built monitorctl here: \(r.output)"); return
        }
        #expect(r.status == 69, "\(r.output)")
        #expect(r.output.contains("permission denied: are you in the socket's group?"), "\(r.output)")
    }

    // MARK: 6. a FIFO as input: no hang, signals work

    @Test func wavInputOnAFIFOWithoutWriterIsRefusedNotAHang() throws {
        let dir = makeTempDirectory("bmh6"); defer { removeTree(dir) }
        let fifo = dir + "/in.wav"
        mkfifo(fifo, 0o600)
        let r = try Self.daemon(["--config", Integration.writeConfig(dir, Self.energyOnly), "--input", "wav:" + fifo,
                                 "--event-log", dir + "/ev.jsonl", "--socket", dir + "/c.sock"], seconds: 20)
        #expect(r.status == 65 && !r.signalled, "\(r.output)")
        #expect(r.output.contains("\(fifo): is a FIFO (named pipe), not a regular file"), "\(r.output)")
    }

    /// libsoxr is loaded with dlopen on the first resampler (issue 15): a WAV at another
    /// rate than the models' with libsoxr unloadable is a clear error naming the package,
    /// not a crash, and the log stays well-formed.
    @Test func resamplingWithoutLibsoxrIsAClearError() throws {
        guard let hide = try Self.launcherHiding("libsoxr.so.0") else { return }
        let dir = makeTempDirectory("bmh6"); defer { removeTree(dir) }
        let wav = dir + "/in16k.wav", log = dir + "/ev.jsonl"
        try DaemonProcessTests.writeTone(wav, seconds: 2, rate: 16000)
        let arguments = ["--config", Integration.writeConfig(dir, Self.energyOnly), "--input", "wav:" + wav, "--pace", "fast",
                         "--event-log", log, "--socket", dir + "/c.sock"]
        let r = try Self.run(hide[0], Array(hide.dropFirst()) + [try DaemonProcessTests.tool("babymonitord")] + arguments, seconds: 30)
        #expect(r.status != 0 && !r.signalled, "\(r.output)")
        #expect(r.output.contains("needs libsoxr (Debian: libsoxr0)"), "\(r.output)")
        for line in (readFile(log) ?? "").split(separator: "\n") { #expect((try? JSONValue.parse(String(line))) != nil, "\(line)") }
        // The same input without the library hidden replays.
        let plain = try Self.daemon(arguments, seconds: 30)
        #expect(plain.status == 0, "\(plain.output)")
    }

    // MARK: 7. a dropped subscriber gets its final line, and the drop is logged

    @Test func droppedSubscriberGetsTheFinalErrorLine() throws {
        let dir = makeTempDirectory("bmh7"); defer { removeTree(dir) }
        for sendBuffer in [nil, 4096] as [Int?] {
            var options = ControlServer.Options(path: dir + "/c.sock")
            options.sendBufferBytes = sendBuffer
            let logged = Locked<[String]>([])
            options.dropLog = { line in logged.withLock { $0.append(line) } }
            let server = try ControlServer(options: options, handlers: ControlServerTests.handlers())
            try server.start()
            let stuck = try (0..<3).map { _ in try SocketAbuseTests.RawConnection(options.path) }
            for s in stuck { try s.send(Array(ControlRequest.subscribe.line.utf8)) }
            #expect(waitUntil { server.stats.subscribers == 3 })
            let pad = String(repeating: "p", count: 200)
            var i = 0
            while server.stats.droppedSubscribers < 3 && i < 200_000 {
                server.publish(MonitorEvent(type: "test", fields: [("seq", .number(Double(i))), ("pad", .string(pad))]))
                i += 1
                if i % 500 == 0 { usleep(1000) }
            }
            #expect(waitUntil { server.stats.droppedSubscribers == 3 })
            // They read nothing until the server has closed them (the probe's clients).
            #expect(waitUntil { server.stats.clients == 0 })
            for s in stuck {
                var last = ""
                var count = 0
                while let line = s.readLine() { last = line; count += 1 }
                let value = try JSONValue.parse(last)
                #expect(value["ok"]?.boolValue == false, "after \(count) lines: \(last.prefix(200))")
                #expect(value["error"]?.stringValue?.contains("too slow") == true)
            }
            #expect(logged.withLock { $0.first }?.contains("subscriber dropped: too slow") == true)
            server.stop()
        }
    }

    // MARK: 8. the log deleted while running

    @Test func deletedLogIsNoticedAndReopened() throws {
        let dir = makeTempDirectory("bmh8"); defer { removeTree(dir) }
        let path = dir + "/ev.jsonl"
        let log = EventLog(path: path)
        let heard = Locked<[MonitorEvent]>([])
        log.onHealthChange { e in heard.withLock { $0.append(e) } }
        #expect(log.append(Self.event(1)))
        unlink(path)
        #expect(log.append(Self.event(2)))
        let lines = (readFile(path) ?? "").split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.first?.contains("\"type\":\"degraded\"") == true && lines.first?.contains("was deleted") == true)
        #expect(lines.last?.contains("\"seq\":2") == true)
        #expect(heard.withLock { $0.count } == 1)
        // Moved away, as logrotate does before its SIGHUP: reopened at the path too, but quietly
        // (the moved file keeps its lines; a rotation is no fault).
        rename(path, path + ".old")
        #expect(log.append(Self.event(3)))
        #expect((readFile(path) ?? "").contains("\"seq\":3"))
        #expect(!(readFile(path + ".old") ?? "").contains("\"seq\":3"))
        #expect((readFile(path + ".old") ?? "").contains("\"seq\":2"))
        #expect(!(readFile(path) ?? "").contains("degraded"))
        #expect(heard.withLock { $0.count } == 1)
        log.reopen()   // the SIGHUP that follows changes nothing
        #expect(log.append(Self.event(4)))
        #expect((readFile(path) ?? "").split(separator: "\n").count == 2)
    }

    // MARK: 9. the smaller items

    @Test func noDetectorModelRefusesToStartUnlessEnergyOnly() throws {
        let dir = makeTempDirectory("bmh9"); defer { removeTree(dir) }
        let config = Integration.writeConfig(dir, "[audio]\nsample_rate = 8000\n")
        let r = try Self.daemon(["--config", config, "--input", "wav:" + (try Self.toneWAV(dir)), "--pace", "fast",
                                 "--event-log", dir + "/ev.jsonl", "--socket", dir + "/c.sock"])
        #expect(r.status == 78, "\(r.output)")
        #expect(r.output.contains("\(config): models.detector: no detector model configured"), "\(r.output)")
        #expect(r.output.contains("energy_only = true"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/ev.jsonl"))
        #expect(throws: ConfigError.self) { try CryPipeline(config: DaemonConfig()) }
    }

    @Test func unknownGroupIsAConfigurationError() throws {
        let dir = makeTempDirectory("bmh9"); defer { removeTree(dir) }
        let config = Integration.writeConfig(dir, Self.energyOnly + "[control]\ngroup = \"nosuchgroup-bmh\"\n")
        let r = try Self.daemon(["--config", config, "--input", "wav:" + (try Self.toneWAV(dir)),
                                 "--event-log", dir + "/ev.jsonl", "--socket", dir + "/c.sock"])
        #expect(r.status == 78, "\(r.output)")
        #expect(r.output.contains("\(config): control.group: group \"nosuchgroup-bmh\" does not exist"), "\(r.output)")
    }

    @Test func duplicateKeysAndNumberOverflowInRequests() throws {
        #expect(throws: ControlProtocolError.badRequest("duplicate field \"cmd\"")) {
            try ControlRequest.parse(line: "{\"cmd\":\"status\",\"cmd\":\"subscribe\"}")
        }
        #expect(throws: ControlProtocolError.badRequest("duplicate field \"limit\"")) {
            try ControlRequest.parse(line: "{\"cmd\":\"events\",\"limit\":1,\"limit\":2}")
        }
        do {
            _ = try ControlRequest.parse(line: "{\"cmd\":\"events\",\"limit\":1e999}")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("number 1e999 is out of range"), "\(error)")
            #expect(!error.description.contains("null"))
        }
    }

    @Test func secondDaemonOnTheSameLogIsRefused() throws {
        let dir = makeTempDirectory("bmh9"); defer { removeTree(dir) }
        let log = dir + "/ev.jsonl", config = Integration.writeConfig(dir, Self.energyOnly)
        let first = try DaemonProcessTests.start(["--config", config, "--input", "alsa:nosuchpcm-for-test",
                                                  "--event-log", log, "--socket", dir + "/a.sock"], in: dir)
        defer { first.stop() }
        _ = try #require(Integration.client(dir + "/a.sock"), "\(first.errorText)")
        let r = try Self.daemon(["--config", config, "--input", "alsa:nosuchpcm-for-test",
                                 "--event-log", log, "--socket", dir + "/b.sock"], seconds: 30)
        #expect(r.status == 1 && !r.signalled, "\(r.output)")
        #expect(r.output.contains("\(log): locked by another process"), "\(r.output)")
        #expect(Integration.terminate(first) == 0)
        // In one process too: the lock is per open file.
        let a = EventLog(path: log), b = EventLog(path: log)
        #expect(a.openAtStartup() == nil)
        #expect(b.openAtStartup()?.refused == true)
    }

    @Test func replayWhoseLogWasNeverWritableExitsNonZero() throws {
        let dir = makeTempDirectory("bmh9"); defer { removeTree(dir) }
        let r = try Self.daemon(["--config", Integration.writeConfig(dir, Self.energyOnly), "--input", "wav:" + (try Self.toneWAV(dir)),
                                 "--pace", "fast", "--event-log", dir + "/missing-dir/ev.jsonl", "--socket", dir + "/c.sock"])
        #expect(r.status == 74, "\(r.output)")
        #expect(r.output.contains("event(s) could not be written to the event log"), "\(r.output)")
    }
}
