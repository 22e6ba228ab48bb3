import Testing
import Foundation
import AudioIO
import ControlProtocol
@testable import MonitorDaemon

/// Kept episode audio, labels and `--keep-running`, against the real daemon (issue 13).
@Suite(.serialized) struct EpisodeKeepingTests {
    /// Energy-only episodes: each cry-like burst in quiet noise is one episode.
    static func config(_ dir: String, episodes: String = "dir = \"episodes\"\n") -> String {
        Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            [detector]
            energy_only = true
            hangover_s = 0.3
            merge_gap_s = 0.3
            [control]
            recent_events = 100
            [episodes]
            \(episodes)
            """)
    }

    static func writeClip(_ path: String, cries: [(Double, Double)], total: Double) throws {
        try WAVWriter.write(AudioBuffer(samples: Integration.clip(cries: cries, total: total), sampleRate: Integration.rate),
                            to: path)
    }

    /// Waits until the replay is over and the writer has finished every episode.
    static func waitFinished(_ client: ControlClient) -> DaemonStatus? {
        var last: DaemonStatus?
        _ = waitUntil(seconds: 60) {
            last = try? client.status()
            return last?.state == "finished" && last?.episodesWriting == 0
        }
        return last
    }

    static func json(_ path: String) -> JSONValue? {
        readFile(path).flatMap { try? JSONValue.parse($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    @Test func keptAudioLabelsThroughSocketAndMonitorctlAndKeepRunning() throws {
        let dir = makeTempDirectory("bmep"); defer { removeTree(dir) }
        let wav = dir + "/night.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        try Self.writeClip(wav, cries: [(2, 3), (8, 2)], total: 12)
        let run = try DaemonProcessTests.start(["--config", Self.config(dir), "--input", "wav:" + wav, "--pace", "fast",
                                                "--keep-running", "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        let status = try #require(Self.waitFinished(client), "\(run.errorText)")
        // --keep-running: the input is over, the daemon still answers.
        #expect(status.state == "finished" && run.process.isRunning)
        #expect(status.episodesKept == 2 && status.episodesDir == dir + "/episodes")

        // Audio: 16-bit at the analysis rate, from onset - 1 s pre-roll to the end.
        let events = try DaemonProcessTests.events(log)
        let starts = events.filter { $0["type"]?.stringValue == "cry_start" }
        let ends = events.filter { $0["type"]?.stringValue == "cry_end" }
        try #require(starts.count == 2 && ends.count == 2)
        for (s, e) in zip(starts, ends) {
            let n = try #require(s["episode"]?.intValue)
            let onset = try #require(s["t_audio"]?.doubleValue), end = try #require(e["t_audio"]?.doubleValue)
            let audio = try WAVReader.read(path: dir + "/episodes/episode-\(n).wav")
            #expect(audio.sampleRate == 8000)
            let expected = Int((end * 8000).rounded()) - max(0, Int((onset * 8000).rounded()) - 8000)
            #expect(audio.samples.count == expected)
            let side = try #require(Self.json(dir + "/episodes/episode-\(n).json"))
            #expect(side["episode"]?.intValue == n)
            #expect(abs((side["t_audio"]?.doubleValue ?? -1) - onset) < 0.001)
            #expect(abs((side["duration_s"]?.doubleValue ?? -1) - (e["duration_s"]?.doubleValue ?? -2)) < 0.001)
            #expect(side["peak_p_cry"]?.doubleValue == 1)       // energy-only: p = 1 while the gate is open
            #expect(side["labels"]?.arrayValue?.isEmpty == true)
            #expect(side["ts"]?.stringValue == s["ts"]?.stringValue)
        }
        // The second cry's audio is the cry: its loudest part is well above the noise.
        let second = try WAVReader.read(path: dir + "/episodes/episode-2.wav")
        #expect((second.samples.map(abs).max() ?? 0) > 0.2)

        // A label through the socket.
        let answer = try client.request(.label(episode: .number(1), label: .notCry))
        #expect(answer["label"]?["type"]?.stringValue == "label" && answer["label"]?["episode"]?.intValue == 1)
        // Raw request line, as another program would send it.
        try client.send(raw: "{\"cmd\":\"label\",\"episode\":2,\"label\":\"cry\"}\n")
        #expect(try client.readMessage()["label"]?["label"]?.stringValue == "cry")
        // And through monitorctl, with `last` (episode 2).
        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "label", "last", "hungry"])
        #expect(code == 0 && text.contains("episode 2 labelled hungry"), "\(text)")

        let side1 = try #require(Self.json(dir + "/episodes/episode-1.json"))
        #expect(side1["labels"]?.arrayValue?.compactMap { $0["label"]?.stringValue } == ["not-cry"])
        let side2 = try #require(Self.json(dir + "/episodes/episode-2.json"))
        #expect(side2["labels"]?.arrayValue?.compactMap { $0["label"]?.stringValue } == ["cry", "hungry"])
        let labels = try DaemonProcessTests.events(log).filter { $0["type"]?.stringValue == "label" }
        #expect(labels.map { "\($0["episode"]?.intValue ?? 0):\($0["label"]?.stringValue ?? "")" } == ["1:not-cry", "2:cry", "2:hungry"])
        #expect(labels.last?["labels"]?.arrayValue?.compactMap(\.stringValue) == ["cry", "hungry"])

        // monitorctl events shows the labels beside their episodes.
        let (ecode, listing) = try DaemonProcessTests.monitorctl(["--socket", sock, "events", "--limit", "100"])
        #expect(ecode == 0)
        let endLine = listing.split(separator: "\n").first { $0.contains("cry_end") && $0.contains("episode 1 ") }
        #expect(endLine?.contains("[labelled not-cry]") == true, "\(listing)")

        // SIGTERM still ends a kept-running daemon cleanly.
        #expect(Integration.terminate(run) == 0)
        #expect(try DaemonProcessTests.events(log).last?["reason"]?.stringValue == "SIGTERM")
    }

    /// Unknown episode, unknown label, a bad episode reference: a clear error, exit 65, and
    /// nothing changes (sidecar and event log untouched).
    @Test func badLabelsAreRefusedAndChangeNothing() throws {
        let dir = makeTempDirectory("bmep"); defer { removeTree(dir) }
        let wav = dir + "/night.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        try Self.writeClip(wav, cries: [(2, 2)], total: 6)
        let run = try DaemonProcessTests.start(["--config", Self.config(dir), "--input", "wav:" + wav, "--pace", "fast",
                                                "--keep-running", "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        try #require(Self.waitFinished(client)?.episodesKept == 1, "\(run.errorText)")
        let sidecarBefore = readFile(dir + "/episodes/episode-1.json")
        let logBefore = readFile(log)

        let cases: [([String], String)] = [
            (["label", "7", "not-cry"], "unknown episode 7: the last episode is 1"),
            (["label", "1", "cat"], "unknown label \"cat\" (known: not-cry, cry, hungry, tired, belly_pain, discomfort, burping)"),
            (["label", "0", "cry"], "episode must be a number (1 or more) or \"last\""),
            (["label", "first", "cry"], "episode must be a number"),
        ]
        for (args, message) in cases {
            let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock] + args)
            #expect(code == 65 && text.contains(message), "\(args): \(code) \(text)")
        }
        // Straight to the socket: the daemon checks too.
        #expect(throws: ControlClientError.refused("unknown label \"Cry\" (known: not-cry, cry, hungry, tired, belly_pain, discomfort, burping)")) {
            try client.send(raw: "{\"cmd\":\"label\",\"episode\":1,\"label\":\"Cry\"}\n")
            _ = try client.readMessage()
        }
        #expect(throws: ControlClientError.self) {
            try client.send(raw: "{\"cmd\":\"label\",\"episode\":1.5,\"label\":\"cry\"}\n")
            _ = try client.readMessage()
        }
        #expect(throws: ControlClientError.refused("unknown episode 3: the last episode is 1")) {
            _ = try client.request(.label(episode: .number(3), label: .cry))
        }
        #expect(readFile(dir + "/episodes/episode-1.json") == sidecarBefore)
        #expect(readFile(log) == logBefore)
        #expect(Integration.terminate(run) == 0)
    }

    /// keep_mb bounds the directory: the oldest episodes go first; a label for one of them
    /// says its audio is gone (exit 65). keep_mb = 0 keeps nothing.
    @Test func oldestEpisodesAreDeletedOverKeepMB() throws {
        let dir = makeTempDirectory("bmep"); defer { removeTree(dir) }
        let wav = dir + "/night.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        // Six 2 s cries: each kept episode is about (1 + 2.3) s * 16 kB/s = 53 kB.
        let cries = (0..<6).map { (1.5 + Double($0) * 5, 2.0) }
        try Self.writeClip(wav, cries: cries, total: 31)
        let config = Self.config(dir, episodes: "dir = \"episodes\"\nkeep_mb = 0.15\n")
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                                "--keep-running", "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        let status = try #require(Self.waitFinished(client), "\(run.errorText)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/episodes").sorted()
        let total = try names.reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: dir + "/episodes/" + $1)[.size] as? Int) ?? 0) }
        #expect(total <= 150_000 && total > 100_000, "\(names) \(total)")
        #expect(names == ["episode-5.json", "episode-5.wav", "episode-6.json", "episode-6.wav"])
        #expect(status.episodesKept == 2 && status.episodesBytes == total)
        // Every episode's events are in the log, kept or not.
        #expect(try DaemonProcessTests.events(log).filter { $0["type"]?.stringValue == "cry_end" }.count == 6)

        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "label", "2", "not-cry"])
        #expect(code == 65 && text.contains("the audio of episode 2 is no longer kept"), "\(text)")
        #expect(Integration.terminate(run) == 0)

        // keep_mb = 0: nothing is written, labels say why.
        let dir2 = makeTempDirectory("bmep"); defer { removeTree(dir2) }
        let run2 = try DaemonProcessTests.start(["--config", Self.config(dir2, episodes: "dir = \"episodes\"\nkeep_mb = 0\n"),
                                                 "--input", "wav:" + wav, "--pace", "fast", "--keep-running",
                                                 "--event-log", dir2 + "/e.jsonl", "--socket", dir2 + "/c.sock"], in: dir2)
        defer { run2.stop() }
        let client2 = try #require(Integration.client(dir2 + "/c.sock"), "\(run2.errorText)")
        #expect(Self.waitFinished(client2)?.episodesDir == nil)
        #expect(!FileManager.default.fileExists(atPath: dir2 + "/episodes"))
        let (code2, text2) = try DaemonProcessTests.monitorctl(["--socket", dir2 + "/c.sock", "label", "last", "cry"])
        #expect(code2 == 65 && text2.contains("keep_mb = 0"), "\(text2)")
        #expect(Integration.terminate(run2) == 0)
    }

    /// A write that fails (here: the file size limit, as a full disk would) drops that
    /// episode's audio with a `degraded` event; every event is still in the log, and a later
    /// episode that fits is kept again (`recovered`).
    @Test func failedWritesDegradeKeepingNeverEvents() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") else {
            print("skipped: /usr/bin/prlimit (util-linux) not installed"); return
        }
        // ThreadSanitizer's runtime dies of SIGBUS under a file-size limit (scripts/tsan):
        // the limit is what this test needs, so it runs in the plain suite only.
        guard ProcessInfo.processInfo.environment["TSAN_OPTIONS"] == nil else {
            print("skipped under ThreadSanitizer: its runtime cannot run with RLIMIT_FSIZE"); return
        }
        let dir = makeTempDirectory("bmep"); defer { removeTree(dir) }
        let wav = dir + "/night.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        // A 12 s cry (about 200 kB of audio) then a 1 s one (about 40 kB); files limited to 100 kB.
        try Self.writeClip(wav, cries: [(2, 12), (17, 1)], total: 20)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        p.arguments = ["--fsize=100000", "--", try DaemonProcessTests.tool("babymonitord"), "--config", Self.config(dir),
                       "--input", "wav:" + wav, "--pace", "fast", "--event-log", log, "--socket", sock]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let events = try DaemonProcessTests.events(log)
        let degraded = events.filter { $0["type"]?.stringValue == "degraded" && $0["component"]?.stringValue == "episodes" }
        #expect(degraded.count == 2, "\(degraded)")
        #expect(degraded.first?["recovered"]?.boolValue == false)
        #expect(degraded.first?["reason"]?.stringValue?.contains("episode 1's audio is not kept") == true)
        #expect(degraded.last?["recovered"]?.boolValue == true)
        #expect(events.filter { $0["type"]?.stringValue == "cry_end" }.count == 2)
        #expect(events.last?["type"]?.stringValue == "stopping")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/episodes").sorted()
        #expect(names == ["episode-2.json", "episode-2.wav"])
    }

    /// A symlink planted where the episodes directory should be is refused (degraded), and
    /// the daemon goes on with its events.
    @Test func symlinkedEpisodesDirectoryIsRefused() throws {
        let dir = makeTempDirectory("bmep"); defer { removeTree(dir) }
        let wav = dir + "/night.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/episodes", withDestinationPath: dir + "/elsewhere")
        try Self.writeClip(wav, cries: [(2, 2)], total: 6)
        let run = try DaemonProcessTests.start(["--config", Self.config(dir), "--input", "wav:" + wav, "--pace", "fast",
                                                "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        run.process.waitUntilExit()
        #expect(run.process.terminationStatus == 0, "\(run.errorText)")
        let events = try DaemonProcessTests.events(log)
        #expect(events.contains { $0["component"]?.stringValue == "episodes" && ($0["reason"]?.stringValue ?? "").contains("symlink") })
        #expect(events.filter { $0["type"]?.stringValue == "cry_end" }.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/elsewhere").isEmpty)
    }
}
