import Testing
import Foundation
import ControlProtocol
@testable import MonitorDaemon

/// `[episodes]`, `[models] adapted_dir`, and the label/reload requests (issue 13).
@Suite struct EpisodeConfigAndProtocolTests {
    @Test func episodesSectionDefaultsAndValues() throws {
        let d = DaemonConfig()
        #expect(d.episodes.dir == "/var/lib/babymonitor/episodes" && d.episodes.keepMB == 200 && d.episodes.preRollS == 1)
        #expect(d.models.adaptedDir == "/var/lib/babymonitor/models")
        let c = try DaemonConfig.parse("""
            [episodes]
            dir = "kept"
            keep_mb = 0.5
            pre_roll_s = 2
            [models]
            adapted_dir = "adapted"
            """, path: "/etc/bm/b.toml")
        #expect(c.episodes.dir == "/etc/bm/kept" && c.episodes.keepMB == 0.5 && c.episodes.preRollS == 2)
        #expect(c.models.adaptedDir == "/etc/bm/adapted")
        #expect(EpisodeRecorder.Options(config: c).keepBytes == 500_000)
    }

    @Test(arguments: [
        ("[episodes]\nkeep_mb = -1\n", "episodes.keep_mb", "out of range"),
        ("[episodes]\npre_roll_s = 11\n", "episodes.pre_roll_s", "out of range"),
        ("[episodes]\ndir = \"\"\n", "episodes.dir", "must not be empty"),
        ("[episodes]\nkeep = 3\n", "episodes.keep", "unknown key"),
        ("[models]\nadapted_dir = 3\n", "models.adapted_dir", "expected a string"),
    ])
    func badEpisodesValuesNameTheKey(_ text: String, _ key: String, _ problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try DaemonConfig.parse(text, path: "/etc/b.toml") }
        #expect(error.key == key && error.problem.contains(problem), "\(error)")
    }

    @Test func labelAndReloadRequestsRoundTrip() throws {
        for request: ControlRequest in [.label(episode: .number(12), label: .notCry), .label(episode: .last, label: .bellyPain), .reload] {
            #expect(try ControlRequest.parse(line: request.json.description) == request)
        }
        #expect(ControlRequest.label(episode: .number(3), label: .notCry).json.description
                == "{\"cmd\":\"label\",\"episode\":3,\"label\":\"not-cry\"}")
        let bad: [(String, String)] = [
            ("{\"cmd\":\"label\",\"episode\":3}", "label request has no \"label\""),
            ("{\"cmd\":\"label\",\"label\":\"cry\"}", "label request has no \"episode\""),
            ("{\"cmd\":\"label\",\"episode\":0,\"label\":\"cry\"}", "\"episode\" must be a positive integer or \"last\""),
            ("{\"cmd\":\"label\",\"episode\":\"first\",\"label\":\"cry\"}", "\"episode\" must be a positive integer"),
            ("{\"cmd\":\"label\",\"episode\":2,\"label\":\"dog\"}", "unknown label \"dog\""),
            ("{\"cmd\":\"label\",\"episode\":2,\"label\":7}", "\"label\" must be a string"),
            ("{\"cmd\":\"label\",\"episode\":2,\"label\":\"cry\",\"x\":1}", "unknown field \"x\""),
            ("{\"cmd\":\"reload\",\"now\":true}", "unknown field \"now\""),
        ]
        for (line, message) in bad {
            let error = try #require(throws: ControlProtocolError.self) { try ControlRequest.parse(line: line) }
            #expect(error.description.contains(message), "\(line): \(error)")
        }
    }

    @Test func labelsKnowWhatTheyMean() {
        #expect(EpisodeLabel.allCases.map(\.rawValue) == ["not-cry", "cry", "hungry", "tired", "belly_pain", "discomfort", "burping"])
        #expect(!EpisodeLabel.notCry.isCry && EpisodeLabel.cry.isCry && EpisodeLabel.cry.cause == nil)
        #expect(EpisodeLabel.bellyPain.cause == "belly_pain")
    }

    @Test func statusCarriesEpisodesAndAdaptedModels() throws {
        var s = DaemonStatus()
        s.modelsAdapted = ["detector"]
        s.episodesDir = "/var/lib/babymonitor/episodes"
        s.episodesKept = 4
        s.episodesBytes = 123_456
        s.episodesWriting = 1
        let back = try DaemonStatus(json: try JSONValue.parse(s.json.description))
        #expect(back == s)
    }

    @Test func episodeFileNames() {
        #expect(EpisodeRecorder.episodeNumber("episode-12.wav") == 12)
        #expect(EpisodeRecorder.episodeNumber("episode-12.json") == 12)
        for name in ["episode-012.wav", "episode-0.wav", "episode--1.json", ".episode-3.wav.part", "episode-3.wav.tmp", "other.wav"] {
            #expect(EpisodeRecorder.episodeNumber(name) == nil, "\(name)")
        }
        let h = EpisodeRecorder.wavHeader(dataBytes: 16000, sampleRate: 8000)
        #expect(h.count == 44 && Array(h[0..<4]) == Array("RIFF".utf8) && Array(h[36..<40]) == Array("data".utf8))
        #expect(Int(h[40]) | Int(h[41]) << 8 | Int(h[42]) << 16 == 16000)
    }
}
