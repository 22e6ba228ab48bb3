import Testing
import Foundation
import AudioIO
import ControlProtocol
import CryModel
@testable import MonitorDaemon

/// SIGKILL the real daemon while it writes events, again and again on the same log: the log
/// only ever holds whole JSON lines, what was written stays as it was, and each restarted
/// daemon (on the killed one's stale socket) appends after it with episode numbers going on.
@Suite(.serialized) struct CrashConsistencyTests {
    /// Eight minutes of half-second tone bursts every 1.2 s (about 400 episodes): replayed
    /// fast, a debug build writes hundreds of events a second for a second or more.
    static func writeBurstTrain(_ path: String, total: Double = 480) throws {
        let spans = stride(from: 0.3, to: total - 1, by: 1.2).map { ($0, 0.5) }
        let samples = CryPipelineTests.bursts(spans, total: total)
        try WAVWriter.write(AudioBuffer(samples: samples, sampleRate: 8000), to: path)
    }

    /// Energy-only detection with short hangover and merge gap, so each burst is an episode.
    static let burstConfig = """
        [audio]
        sample_rate = 8000
        [detector]
        energy_only = true
        hangover_s = 0.2
        merge_gap_s = 0.2
        min_episode_s = 0.2
        """

    /// The lines of `data` after its first `offset` bytes, each parsed (a line that does not
    /// parse is recorded and left out).
    static func parsedLines(_ data: Data, from offset: Int = 0) -> [JSONValue] {
        String(decoding: data.dropFirst(offset), as: UTF8.self).split(separator: "\n").compactMap { line in
            do { return try JSONValue.parse(String(line)) } catch {
                Issue.record("not a JSON line in the event log: \(line.prefix(200)) (\(error))")
                return nil
            }
        }
    }

    static func isSocket(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    @Test func sigkillWhileWritingEventsThenRestartAppends() throws {
        let dir = makeTempDirectory("bmcrash"); defer { removeTree(dir) }
        let wav = dir + "/bursts.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        try Self.writeBurstTrain(wav)
        let config = Integration.writeConfig(dir, Self.burstConfig)
        var rng = SplitMix64(seed: 20261125)
        var before = Data()     // the log as the killed daemons left it
        var lastEpisode = 0
        let kills = 6

        for round in 0..<kills {
            let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "fast",
                                                    "--event-log", log, "--socket", sock], in: dir)
            defer { run.stop() }
            let pid = run.process.processIdentifier
            let offset = before.count
            // Kill once this daemon is writing episodes: at a random moment after its first one.
            let writing = waitUntil(seconds: 30) {
                (FileManager.default.contents(atPath: log) ?? Data()).dropFirst(offset)
                    .range(of: Data("\"cry_start\"".utf8)) != nil
            }
            try #require(writing, "round \(round): no episode written; \(run.errorText)")
            usleep(UInt32(rng.next() % 250_000))
            kill(pid, SIGKILL)
            run.process.waitUntilExit()
            try #require(run.process.terminationReason == .uncaughtSignal,
                         "round \(round): the replay ended (status \(run.process.terminationStatus)) before the kill")

            let after = try #require(FileManager.default.contents(atPath: log))
            // What was there is untouched; the file ends at a line's end (no partial line).
            #expect(after.prefix(offset) == before, "round \(round): earlier lines changed")
            #expect(after.last == UInt8(ascii: "\n"), "round \(round): the log ends in a partial line")
            let old = Self.parsedLines(after.prefix(offset))
            let new = Self.parsedLines(after, from: offset)
            #expect(old.count + new.count == after.split(separator: UInt8(ascii: "\n")).count)
            // This daemon's part: its own `started`, then episodes numbered on from the last run's.
            #expect(new.first?["type"]?.stringValue == "started", "round \(round)")
            #expect(new.first?["pid"]?.intValue == Int(pid))
            #expect(new.dropFirst().allSatisfy { !["started", "stopping"].contains($0["type"]?.stringValue ?? "") },
                    "round \(round): a second start or a stop in a killed run")
            let episodes = new.compactMap { $0["episode"]?.intValue }
            #expect(episodes.first == lastEpisode + 1, "round \(round): episodes \(episodes.prefix(4)) after \(lastEpisode)")
            #expect(zip(episodes, episodes.dropFirst()).allSatisfy { $1 == $0 || $1 == $0 + 1 },
                    "round \(round): episode numbers not consecutive")
            #expect(episodes.count >= 1)
            // SIGKILL leaves the socket file behind: the next daemon must replace it.
            #expect(Self.isSocket(sock), "round \(round): the killed daemon's socket file is gone")
            lastEpisode = episodes.max() ?? lastEpisode
            before = after
        }

        // A last daemon, paced in real time so that it is still there to ask: it took over
        // the stale socket, appends after the killed ones, and stops cleanly.
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "realtime",
                                                "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        let status = try client.status()
        #expect(status.pid == Int(run.process.processIdentifier))
        #expect(status.eventLog == log)
        let offset = before.count
        #expect(waitUntil(seconds: 30) {
            (FileManager.default.contents(atPath: log) ?? Data()).dropFirst(offset)
                .range(of: Data("\"cry_end\"".utf8)) != nil
        }, "\(run.errorText)")
        #expect(Integration.terminate(run) == 0, "\(run.errorText)")
        #expect(!FileManager.default.fileExists(atPath: sock))

        let final = try #require(FileManager.default.contents(atPath: log))
        #expect(final.prefix(offset) == before)
        let all = Self.parsedLines(final)
        #expect(all.count == final.split(separator: UInt8(ascii: "\n")).count)
        let types = all.map { $0["type"]?.stringValue ?? "" }
        #expect(types.filter { $0 == "started" }.count == kills + 1)
        #expect(types.filter { $0 == "stopping" }.count == 1 && types.last == "stopping")
        #expect(all.last?["reason"]?.stringValue == "SIGTERM")
        let tail = Self.parsedLines(final, from: offset)
        #expect(tail.compactMap { $0["episode"]?.intValue }.first == lastEpisode + 1)
        // Over the whole log episode numbers never go back or skip: one sequence across restarts.
        let episodes = all.compactMap { $0["episode"]?.intValue }
        #expect(episodes.first == 1)
        #expect(zip(episodes, episodes.dropFirst()).allSatisfy { $1 == $0 || $1 == $0 + 1 })
    }
}
