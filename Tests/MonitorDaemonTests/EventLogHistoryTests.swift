import Testing
import Foundation
import ControlProtocol
@testable import MonitorDaemon

@Suite struct EventLogHistoryTests {
    @Test func episodeNumbersAndTodaysCountComeFromTheLogTail() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let path = dir + "/events.jsonl"
        let log = EventLog(path: path)
        let yesterday = WallClock.nowMillis() - 86_400_000 - 3_600_000
        log.append(MonitorEvent(type: "cry_start", episode: 7, tAudio: 1, timestampMillis: yesterday))
        log.append(.cryEnd(episode: 7, tAudio: 2, duration: 1))
        log.append(.cryStart(episode: 8, tAudio: 5))
        log.append(.cryEnd(episode: 8, tAudio: 9, duration: 4))
        log.append(.cryStart(episode: 9, tAudio: 12))
        log.close()
        // A cut line at the end (a crash mid-write before this daemon's time) is skipped.
        let fd = open(path, O_WRONLY | O_APPEND)
        _ = "{\"v\":1,\"type\":\"cry_st".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let h = EventLogHistory.scan(path: path)
        #expect(h == EventLogHistory(lastEpisode: 9, episodesToday: 2))
        // Only the tail is read: a small tail still finds the newest episode.
        #expect(EventLogHistory.scan(path: path, tailBytes: 150).lastEpisode == 9)
    }

    @Test func rotatedLogIsConsultedWhenTheNewOneHasNoEpisode() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let path = dir + "/events.jsonl"
        let old = EventLog(path: path + ".1")
        old.append(.cryStart(episode: 41, tAudio: 1))
        old.close()
        let new = EventLog(path: path)
        new.append(.started(version: "t", input: "x", models: []))
        new.close()
        #expect(EventLogHistory.scan(path: path).lastEpisode == 41)
        #expect(EventLogHistory.scan(path: dir + "/none.jsonl") == EventLogHistory())
    }
}
