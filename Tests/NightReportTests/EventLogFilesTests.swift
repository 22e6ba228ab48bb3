import Testing
import Foundation
@testable import NightReport

@Suite struct EventLogFilesTests {
    static let gzip = ["/usr/bin/gzip", "/bin/gzip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test func rotatedFilesOldestFirst() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        for name in ["events.jsonl", "events.jsonl.1", "events.jsonl.2.gz", "events.jsonl.10.gz", "events.jsonl-20261124.gz",
                     "events.jsonl-20261125", "other.jsonl.1", "events.jsonl.bak", "events.jsonlx"] {
            write(dir + "/" + name, "")
        }
        let files = try EventLogFiles.files(forLog: dir + "/events.jsonl")
        #expect(files == ["events.jsonl-20261124.gz", "events.jsonl-20261125", "events.jsonl.10.gz", "events.jsonl.2.gz",
                          "events.jsonl.1", "events.jsonl"].map { dir + "/" + $0 })
    }

    /// logrotate's compress beside the daemon's own size rotation: `.2.gz` (compressed
    /// earlier) and `.2` (renamed from `.1` since); the one last written to is newer.
    @Test func sameNumberPlainAndCompressedByModificationTime() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        write(dir + "/events.jsonl.2", "")
        write(dir + "/events.jsonl.2.gz", "")
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, dir + "/events.jsonl.2", &times, 0) == 0)
        times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, dir + "/events.jsonl.2.gz", &times, 0) == 0)
        #expect(try EventLogFiles.files(forLog: dir + "/events.jsonl") == [dir + "/events.jsonl.2.gz", dir + "/events.jsonl.2"])
    }

    @Test func onlyRotatedFilesLeft() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        write(dir + "/events.jsonl.1", "")
        #expect(try EventLogFiles.files(forLog: dir + "/events.jsonl") == [dir + "/events.jsonl.1"])
    }

    @Test func missingLogAndDirectorySayWhat() {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        #expect(throws: LogReadError(path: dir + "/events.jsonl", problem: "no event log here (nor rotated files events.jsonl.1, events.jsonl.1.gz, ...)")) {
            try EventLogFiles.files(forLog: dir + "/events.jsonl")
        }
        #expect(throws: LogReadError(path: dir + "/nodir", problem: "cannot list the log's directory: No such file or directory (errno 2)")) {
            try EventLogFiles.files(forLog: dir + "/nodir/events.jsonl")
        }
        #expect(throws: LogReadError(path: dir, problem: "is a directory, not an event log")) { try EventLogFiles.read(dir) }
    }

    @Test(.enabled(if: getuid() != 0, "root reads any file")) func unreadableFileSaysWhy() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        write(dir + "/events.jsonl", "{}\n")
        chmod(dir + "/events.jsonl", 0)
        #expect(throws: LogReadError(path: dir + "/events.jsonl", problem: "cannot open: Permission denied (errno 13)")) {
            try EventLogFiles.read(dir + "/events.jsonl")
        }
    }

    /// Plain and gzip-compressed files read alike; a file cut mid-line keeps its whole lines.
    @Test(.enabled(if: gzip != nil, "needs gzip")) func plainGzipAndCutFiles() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        write(dir + "/events.jsonl.2", "{\"a\":1}\n{\"a\":2}\n")
        try runTool(Self.gzip!, [dir + "/events.jsonl.2"])
        write(dir + "/events.jsonl.1", "{\"a\":3}\n")
        write(dir + "/events.jsonl", "{\"a\":4}\n{\"a\":5,\"cut")
        let files = try EventLogFiles.files(forLog: dir + "/events.jsonl")
        #expect(files.map { ($0 as NSString).lastPathComponent } == ["events.jsonl.2.gz", "events.jsonl.1", "events.jsonl"])
        let (lines, notes) = try EventLogFiles.lines(of: files)
        #expect(lines.map(\.text) == ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}", "{\"a\":4}", "{\"a\":5,\"cut"])
        #expect(lines.map(\.number) == [1, 2, 1, 1, 2])
        #expect(lines[1].file == dir + "/events.jsonl.2.gz")
        #expect(notes.isEmpty)
    }

    /// A .gz cut short (a crash while logrotate compressed): what came before is kept, noted.
    @Test(.enabled(if: gzip != nil, "needs gzip")) func truncatedGzipKeepsWhatCameBefore() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let text = (0..<2000).map { "{\"v\":1,\"n\":\($0),\"pad\":\"\(String(repeating: "x", count: $0 % 50))\"}\n" }.joined()
        write(dir + "/events.jsonl.1", text)
        try runTool(Self.gzip!, [dir + "/events.jsonl.1"])
        let gz = dir + "/events.jsonl.1.gz"
        let data = try Data(contentsOf: URL(fileURLWithPath: gz))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: gz))
        let (bytes, note) = try EventLogFiles.read(gz)
        #expect(bytes.count > 0 && bytes.count < text.utf8.count)
        #expect(Array(text.utf8.prefix(bytes.count)) == bytes)
        #expect(note?.contains("compressed data damaged after") == true, "\(note ?? "no note")")
    }
}
