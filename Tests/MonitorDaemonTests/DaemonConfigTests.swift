import Testing
import Foundation
@testable import MonitorDaemon

@Suite struct DaemonConfigTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    @Test func shippedConfigParsesWithModelsRelativeToIt() throws {
        let path = Self.packageRoot + "/config/babymonitor.toml"
        let c = try DaemonConfig.load(path: path)
        #expect(c.audio.pcm == "default" && c.audio.sampleRate == 8000 && c.audio.periodMs == 20)
        #expect(c.models.cause == Self.packageRoot + "/config/models/cause.safetensors")
        #expect(c.models.detector == Self.packageRoot + "/config/models/detector.safetensors")
        #expect(c.classifier.firstDecisionS == 3 && c.classifier.restartEveryS == 5)
        #expect(c.log.eventLog == "/var/log/babymonitor/events.jsonl" && c.log.keep == 5)
        #expect(c.control.socket == "/run/babymonitor/control.sock" && c.control.group == "")
        // The shipped values are the built-in defaults.
        var defaults = DaemonConfig()
        defaults.models = c.models
        defaults.sourcePath = c.sourcePath
        #expect(c == defaults)
    }

    @Test func emptyFileGivesDefaults() throws {
        let c = try DaemonConfig.parse("", path: "/etc/b.toml")
        #expect(c.audio == DaemonConfig.Audio() && c.models.cause == nil)
    }

    @Test(arguments: [
        ("[audio]\nsample_rat = 8000\n", "audio.sample_rat", "unknown key"),
        ("[audoi]\npcm = \"x\"\n", "audoi", "unknown section"),
        ("[audio]\nsample_rate = \"8000\"\n", "audio.sample_rate", "expected an integer, got string"),
        ("[audio]\nsample_rate = 0\n", "audio.sample_rate", "out of range"),
        ("[detector]\non_threshold = 1.5\n", "detector.on_threshold", "out of range"),
        ("[log]\nkeep = 2.5\n", "log.keep", "expected an integer"),
        ("[detector]\noff_threshold = 0.6\n", "detector.off_threshold", "must not exceed on_threshold"),
        ("[models]\ncause = \"\"\n", "models.cause", "must not be empty"),
        ("audio = 3\n", "audio", "expected a table"),
    ])
    func badValuesNameFileKeyAndProblem(text: String, key: String, problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try DaemonConfig.parse(text, path: "/etc/b.toml") }
        #expect(error.file == "/etc/b.toml")
        #expect(error.key == key)
        #expect(error.problem.contains(problem), "\(error)")
    }

    @Test func syntaxErrorNamesFileAndLine() throws {
        let error = try #require(throws: ConfigError.self) {
            try DaemonConfig.parse("[audio]\npcm = \"default\"\nsample_rate = = 3\n", path: "/etc/b.toml")
        }
        #expect(error.description.hasPrefix("/etc/b.toml: TOML syntax error at line 3"), "\(error)")
    }

    @Test func missingFileIsAConfigError() throws {
        let error = try #require(throws: ConfigError.self) { try DaemonConfig.load(path: "/nonexistent/b.toml") }
        #expect(error.description == "/nonexistent/b.toml: configuration file does not exist")
    }

    @Test func integersAcceptedForNumbers() throws {
        let c = try DaemonConfig.parse("[detector]\nhangover_s = 2\n[log]\nevent_log = \"ev.jsonl\"\n", path: "/etc/bm/b.toml")
        #expect(c.detector.hangoverS == 2.0)
        #expect(c.log.eventLog == "/etc/bm/ev.jsonl")
    }
}
