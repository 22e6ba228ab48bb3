import Testing
import Foundation
import AudioIO
import ControlProtocol
@testable import MonitorDaemon

/// Runs the real built `babymonitord` (and `monitorctl`) from the build products directory
/// next to the test bundle.
@Suite(.serialized) struct DaemonProcessTests {
    static let productsDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Linux: <products>/babymonitorPackageTests.xctest; macOS: <products>/X.xctest/Contents/MacOS/X
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("babymonitord").path) {
            dir.deleteLastPathComponent()
        }
        return dir.path
    }()

    static func tool(_ name: String) throws -> String {
        let path = productsDirectory + "/" + name
        try #require(FileManager.default.isExecutableFile(atPath: path),
                     "\(name) not built next to the test bundle; run `swift build --build-tests` first")
        return path
    }

    struct Run {
        let process: Process
        let stderrPath: String
        /// What the daemon wrote on stderr (a file, not a pipe: a pipe's write end could be
        /// inherited by another test's child and never reach end of file).
        var errorText: String { readFile(stderrPath) ?? "" }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
    }

    /// Starts babymonitord with `arguments`, stderr to a file in `dir`. The test runner's own
    /// systemd and fault-injection variables are removed; `environment` is added after that.
    /// `launcher`, when given, runs the daemon: `launcher[0]` with `launcher[1...]`, then the
    /// daemon's path and `arguments` (it must exec the daemon, so the pid stays the daemon's).
    static func start(_ arguments: [String], in dir: String, environment: [String: String] = [:],
                      launcher: [String] = []) throws -> Run {
        let stderrPath = dir + "/stderr-\(UInt32.random(in: 0...UInt32.max))"
        let p = Process()
        let daemon = try tool("babymonitord")
        if let first = launcher.first {
            p.executableURL = URL(fileURLWithPath: first)
            p.arguments = Array(launcher.dropFirst()) + [daemon] + arguments
        } else {
            p.executableURL = URL(fileURLWithPath: daemon)
            p.arguments = arguments
        }
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: stderrPath)
        p.standardOutput = FileHandle.nullDevice
        var env = ProcessInfo.processInfo.environment
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "BABYMONITOR_FAULT_INJECT"] { env.removeValue(forKey: name) }
        for (k, v) in environment { env[k] = v }
        p.environment = env
        try p.run()
        return Run(process: p, stderrPath: stderrPath)
    }

    static func monitorctl(_ arguments: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try tool("monitorctl"))
        p.arguments = arguments
        let outPath = makeTempDirectory("bmctl") + "/out"
        defer { removeTree((outPath as NSString).deletingLastPathComponent) }
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = p.standardOutput
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, readFile(outPath) ?? "")
    }

    /// `seconds` of a quiet 440 Hz tone at `rate`.
    static func writeTone(_ path: String, seconds: Double, rate: Int) throws {
        let n = Int(seconds * Double(rate))
        let samples = (0..<n).map { Float(0.1 * sin(2 * Double.pi * 440 * Double($0) / Double(rate))) }
        try WAVWriter.write(AudioBuffer(samples: samples, sampleRate: rate), to: path)
    }

    static func events(_ path: String) throws -> [JSONValue] {
        try (readFile(path) ?? "").split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    static func writeConfig(_ dir: String) -> String {
        let path = dir + "/test.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data("""
            [audio]
            sample_rate = 8000
            [detector]
            energy_only = true
            [control]
            recent_events = 50
            [episodes]
            dir = "episodes"
            """.utf8))
        return path
    }

    @Test func realtimeReplayStatusSubscribeAndSIGTERM() throws {
        let dir = makeTempDirectory("bmd"); defer { removeTree(dir) }
        let wav = dir + "/tone.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        try Self.writeTone(wav, seconds: 30, rate: 16000)   // resampled to 8 kHz on replay
        let run = try Self.start(["--config", Self.writeConfig(dir), "--input", "wav:" + wav, "--pace", "realtime",
                                  "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }

        #expect(waitUntil { (try? ControlClient(socketPath: sock)) != nil })
        let client = try ControlClient(socketPath: sock, receiveTimeoutSeconds: 10)
        let subscriber = try ControlClient(socketPath: sock, receiveTimeoutSeconds: 10)
        #expect(try subscriber.request(.subscribe)["ok"]?.boolValue == true)
        #expect(waitUntil { ((try? client.status().audioSeconds) ?? 0) > 0.2 })
        let status = try client.status()
        #expect(status.input == "wav:" + wav)
        #expect(status.state == "listening")
        #expect(status.sampleRate == 8000 && status.framesProcessed > 0 && status.droppedSamples == 0)
        #expect(status.eventLog == log && status.subscribers == 1)
        #expect(status.degraded == nil && status.detectorModel == "energy-only")
        let recent = try client.recentEvents()
        #expect(recent.first?.type == "started")

        let (code, text) = try Self.monitorctl(["--socket", sock, "status"])
        #expect(code == 0 && text.contains("state       listening"), "\(text)")

        run.process.interrupt()   // SIGINT here; SIGTERM below would be the same path
        kill(run.process.processIdentifier, SIGTERM)
        run.process.waitUntilExit()
        #expect(run.process.terminationReason == .exit && run.process.terminationStatus == 0, "\(run.errorText)")
        #expect(!FileManager.default.fileExists(atPath: sock))

        let events = try Self.events(log)
        #expect(events.first?["type"]?.stringValue == "started")
        #expect(events.last?["type"]?.stringValue == "stopping")
        #expect(["SIGINT", "SIGTERM"].contains(events.last?["reason"]?.stringValue ?? ""))
        #expect((events.last?["t_audio"]?.doubleValue ?? 0) > 0.2)
        // The subscriber heard the stopping event before the daemon went away.
        var heard: [String] = []
        while let line = try? subscriber.readLine() { heard.append(line) }
        #expect(heard.last.flatMap { try? JSONValue.parse($0)["type"]?.stringValue } == "stopping")
        let (gone, goneText) = try Self.monitorctl(["--socket", sock, "status"])
        #expect(gone == 69 && goneText.contains("monitorctl: no daemon at \(sock)"))
    }

    /// Energy-only detection over tone bursts, replayed fast: the episodes come out with
    /// t_audio from the sample counter, and the daemon exits 0 after the last event.
    @Test func fastReplayEpisodesThenExit() throws {
        let dir = makeTempDirectory("bmd"); defer { removeTree(dir) }
        let wav = dir + "/bursts.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        let samples = CryPipelineTests.bursts([(1, 3), (7, 2)], total: 12.5)
        try WAVWriter.write(AudioBuffer(samples: samples, sampleRate: 8000), to: wav)
        let config = dir + "/energy.toml"
        _ = FileManager.default.createFile(atPath: config, contents: Data("[detector]\nenergy_only = true\n[episodes]\ndir = \"episodes\"\n".utf8))
        let run = try Self.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                  "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        run.process.waitUntilExit()
        #expect(run.process.terminationStatus == 0, "\(run.errorText)")
        let events = try Self.events(log)
        #expect(events.map { $0["type"]?.stringValue ?? "" } == ["started", "cry_start", "cry_end", "cry_start", "cry_end", "stopping"])
        #expect(events[0]["models"]?["detector"]?.stringValue == "energy-only")
        #expect(abs((events[1]["t_audio"]?.doubleValue ?? 0) - 1) < 0.15)
        #expect(abs((events[3]["t_audio"]?.doubleValue ?? 0) - 7) < 0.15)
        #expect(events.compactMap { $0["episode"]?.intValue } == [1, 1, 2, 2])
        #expect(events.last?["reason"]?.stringValue == "end of input")
        #expect(events.last?["t_audio"]?.doubleValue == 12.5)
        #expect(!FileManager.default.fileExists(atPath: sock))

        // A second run on the same log goes on with the episode numbers.
        let again = try Self.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                    "--event-log", log, "--socket", sock], in: dir)
        defer { again.stop() }
        again.process.waitUntilExit()
        #expect(again.process.terminationStatus == 0, "\(again.errorText)")
        let second = try Self.events(log).dropFirst(events.count)
        #expect(second.compactMap { $0["episode"]?.intValue } == [3, 3, 4, 4])
    }

    @Test func startupErrorsHaveTheirExitCodes() throws {
        let dir = makeTempDirectory("bmd"); defer { removeTree(dir) }
        let bad = dir + "/bad.toml"
        _ = FileManager.default.createFile(atPath: bad, contents: Data("[audio]\nsample_rat = 8000\n".utf8))
        let r1 = try Self.start(["--config", bad, "--input", "wav:/nonexistent.wav", "--socket", dir + "/s"], in: dir)
        r1.process.waitUntilExit()
        #expect(r1.process.terminationStatus == 78)
        #expect(r1.errorText.contains("\(bad): audio.sample_rat: unknown key"))

        let r2 = try Self.start(["--config", Self.writeConfig(dir), "--input", "wav:" + dir + "/missing.wav",
                                 "--event-log", dir + "/e", "--socket", dir + "/s"], in: dir)
        r2.process.waitUntilExit()
        #expect(r2.process.terminationStatus == 65)
        #expect(r2.errorText.contains("missing.wav"))

        let r3 = try Self.start(["--input", "mp3:x"], in: dir)
        r3.process.waitUntilExit()
        #expect(r3.process.terminationStatus == 2)
        #expect(r3.errorText.contains("expected alsa:PCM or wav:PATH"))
        let (usage, _) = try Self.monitorctl(["status", "--bogus"])
        #expect(usage == 2)
    }

    @Test func secondDaemonOnALiveSocketRefuses() throws {
        let dir = makeTempDirectory("bmd"); defer { removeTree(dir) }
        let sock = dir + "/control.sock"
        let first = try Self.start(["--config", Self.writeConfig(dir), "--input", "alsa:nosuchpcm-for-test",
                                    "--event-log", dir + "/e1", "--socket", sock], in: dir)
        defer { first.stop() }
        #expect(waitUntil { (try? ControlClient(socketPath: sock)) != nil })
        // No device: state no_device, device_lost logged, status still answers.
        #expect(waitUntil { (try? ControlClient(socketPath: sock, receiveTimeoutSeconds: 10).status().state) == "no_device" })
        let second = try Self.start(["--config", Self.writeConfig(dir), "--input", "alsa:nosuchpcm-for-test",
                                     "--event-log", dir + "/e2", "--socket", sock], in: dir)
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 1)
        #expect(second.errorText.contains("is in use"))
        kill(first.process.processIdentifier, SIGTERM)
        first.process.waitUntilExit()
        #expect(first.process.terminationStatus == 0)
        let types = try Self.events(dir + "/e1").map { $0["type"]?.stringValue ?? "" }
        #expect(types == ["started", "device_lost", "stopping"])
    }
}
