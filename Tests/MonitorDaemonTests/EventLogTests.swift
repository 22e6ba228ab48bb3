import Testing
import Foundation
import ThreadSupport
import ControlProtocol
@testable import MonitorDaemon

@Suite struct EventLogTests {
    func lines(_ path: String) -> [String] {
        (readFile(path) ?? "").split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test func eventLinesAreJSONWithTheContractFields() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let log = EventLog(path: dir + "/events.jsonl")
        let start = MonitorEvent.cryStart(episode: 12, tAudio: 4312.25)
        let need = MonitorEvent.need(episode: 12, tAudio: 4315.25, label: "hungry", confidence: 0.71,
                                     probs: [("belly_pain", 0.05), ("hungry", 0.71)], final: false)
        let end = MonitorEvent.cryEnd(episode: 12, tAudio: 4321.05, duration: 8.8)
        for e in [start, need, end] { #expect(log.append(e)) }
        let text = readFile(dir + "/events.jsonl") ?? ""
        #expect(text.hasSuffix("\n"))
        let ls = lines(dir + "/events.jsonl")
        #expect(ls.count == 3)
        #expect(ls[0].contains("\"t_audio\":4312.250"))
        #expect(ls[2].contains("\"duration_s\":8.800"))
        for l in ls {
            let v = try JSONValue.parse(l)
            #expect(v["v"]?.intValue == 1)
            let ts = try #require(v["ts"]?.stringValue)
            #expect(ts.count == 24 && ts.hasSuffix("Z"))
            #expect(v["episode"]?.intValue == 12)
        }
        let n = try JSONValue.parse(ls[1])
        #expect(n["type"]?.stringValue == "need")
        #expect(n["label"]?.stringValue == "hungry")
        #expect(n["probs"]?["hungry"]?.doubleValue == 0.71)
        #expect(n["final"]?.boolValue == false)
        #expect(try MonitorEvent(json: n) == need)
    }

    /// Rotation moves the log to .1, .2, ...; with enough files kept, every event is in
    /// exactly one file, and each file holds whole lines only.
    @Test func rotationKeepsEveryEventExactlyOnce() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let path = dir + "/events.jsonl"
        let log = EventLog(path: path, maxBytes: 1000, keep: 50)
        let count = 120
        for i in 0..<count {
            #expect(log.append(MonitorEvent(type: "test", fields: [("seq", .number(Double(i)))])))
        }
        var seen: [Int] = []
        var files = 0
        for suffix in [""] + (1...50).map({ ".\($0)" }) {
            guard FileManager.default.fileExists(atPath: path + suffix) else { continue }
            files += 1
            let size = (try FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0
            #expect(size <= 1000)
            for l in lines(path + suffix) {
                seen.append(try #require(try JSONValue.parse(l)["seq"]?.intValue))
            }
        }
        #expect(files > 5)
        #expect(seen.sorted() == Array(0..<count))
        // Files are in age order: log.N oldest ... log newest.
        #expect(seen == seen.sorted(by: >) || Set(seen).count == count)
    }

    @Test func rotationDropsFilesBeyondKeep() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let path = dir + "/events.jsonl"
        let log = EventLog(path: path, maxBytes: 300, keep: 2)
        for i in 0..<40 { log.append(MonitorEvent(type: "test", fields: [("seq", .number(Double(i)))])) }
        #expect(FileManager.default.fileExists(atPath: path + ".2"))
        #expect(!FileManager.default.fileExists(atPath: path + ".3"))
        let newest = try JSONValue.parse(try #require(lines(path).last))
        #expect(newest["seq"]?.intValue == 39)
    }

    /// Every write fails with ENOSPC (write(2) substituted: the log refuses a link to
    /// /dev/full, and chmod would not stop root). Events are kept, the log reports
    /// degraded; once writes work again and the log is reopened (SIGHUP), they are written
    /// in order, followed by the degraded notice and the recovery notice.
    @Test func fullDiskDegradesThenRecoversInOrder() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let path = dir + "/events.jsonl"
        let log = EventLog(path: path)
        let realWrite = log.systemWrite
        log.systemWrite = { _, _, _ in errno = ENOSPC; return -1 }
        let notices = Locked<[MonitorEvent]>([])
        log.onHealthChange { e in notices.withLock { $0.append(e) } }

        #expect(!log.append(MonitorEvent(type: "test", fields: [("seq", 0)])))
        #expect(log.degradedReason?.contains("No space left on device") == true)
        #expect(!log.append(MonitorEvent(type: "test", fields: [("seq", 1)])))
        #expect(!log.retryPending())
        #expect(log.pendingCount == 3)   // two events and the degraded notice between them
        #expect(notices.withLock { $0.count } == 1)

        log.systemWrite = realWrite
        log.reopen()
        #expect(log.degradedReason == nil)
        #expect(log.pendingCount == 0)
        #expect(log.append(MonitorEvent(type: "test", fields: [("seq", 2)])))
        let ls = try lines(path).map { try JSONValue.parse($0) }
        // The notice stands where the failure happened: after event 0, before event 1.
        #expect(ls.map { $0["type"]?.stringValue ?? "" } == ["test", "degraded", "test", "degraded", "test"])
        #expect(ls.map { $0["seq"]?.intValue ?? -1 } == [0, -1, 1, -1, 2])
        #expect(ls[1]["recovered"]?.boolValue == false)
        #expect(ls[3]["recovered"]?.boolValue == true)
        #expect(ls[3]["lost_events"]?.intValue == 0)
        #expect(notices.withLock { $0.map { $0["recovered"]?.boolValue } } == [false, true])
    }

    /// A bounded pending queue: what does not fit is counted and reported, not lost silently.
    @Test func pendingOverflowIsCounted() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let path = dir + "/events.jsonl"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
        let log = EventLog(path: path, pendingLimit: 4)
        for i in 0..<10 { log.append(MonitorEvent(type: "test", fields: [("seq", .number(Double(i)))])) }
        #expect(log.pendingCount == 4)
        #expect(log.lostEvents == 7)   // 10 events + 1 notice, 4 kept
        try FileManager.default.removeItem(atPath: path)
        log.reopen()
        let ls = try lines(path).map { try JSONValue.parse($0) }
        #expect(ls.last?["lost_events"]?.intValue == 7)
        #expect(ls.compactMap { $0["seq"]?.intValue } == [0, 1, 2])   // + the degraded notice
    }

    /// A short write (as with RLIMIT_FSIZE) is cut off with ftruncate: the file never
    /// holds a broken line, and the event is written whole on the retry.
    @Test func shortWriteLeavesNoPartialLine() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let path = dir + "/events.jsonl"
        let log = EventLog(path: path)
        #expect(log.append(MonitorEvent(type: "test", fields: [("seq", 0)])))
        log.systemWrite = { fd, p, n in write(fd, p, n / 2) }
        #expect(!log.append(MonitorEvent(type: "test", fields: [("seq", 1)])))
        #expect(log.degradedReason?.contains("short write") == true)
        let text = try #require(readFile(path))
        #expect(text.hasSuffix("\n") && lines(path).count == 1)
        log.systemWrite = { fd, p, n in write(fd, p, n) }
        #expect(log.retryPending())
        let ls = try lines(path).map { try JSONValue.parse($0) }
        #expect(ls.map { $0["seq"]?.intValue ?? -1 } == [0, 1, -1, -1])
    }
}
