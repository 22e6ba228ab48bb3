#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import ControlProtocol
import NightReport

extension Monitorctl {
    /// `monitorctl report`: the night from the event log, as text, JSON or a timeline picture.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How the night went: episodes, needs, labels, quiet time and problems, from the event log.",
            discussion: """
                TIME is HH:MM (the last such moment), "yesterday HH:MM", an ISO timestamp \
                (2026-11-24T21:03Z; local time without a zone) or a duration ago (12h, 90m, 1h30m). \
                Without --log the daemon is asked where its log is; with --log the daemon need not run. \
                Rotated files (PATH.1, PATH.2.gz, ...) are read too.
                Exit status: 0 ok, 2 usage, 69 no daemon to ask (give --log), 74 the log or picture \
                could not be read or written, 1 rsvg-convert failed.
                """)
        @ParentCommand var root: Monitorctl
        @Option(help: ArgumentHelp("Start of the report (default: 12h ago).", valueName: "TIME")) var since: String?
        @Option(help: ArgumentHelp("End of the report (default: now, or the end of a replay placed later).", valueName: "TIME"))
        var until: String?
        @Option(help: ArgumentHelp("Read this event log (and its rotated files) instead of asking the daemon.", valueName: "PATH"))
        var log: String?
        @Flag(help: "Print the report as one JSON object (for scripts, Home Assistant).") var json = false
        @Option(help: ArgumentHelp("Also write the night's timeline as SVG.", valueName: "FILE")) var svg: String?
        @Option(help: ArgumentHelp("Also write the timeline as PNG (through rsvg-convert).", valueName: "FILE")) var png: String?

        func validate() throws {
            if svg != nil && png != nil { throw ValidationError("give --svg FILE or --png FILE, not both") }
        }

        func run() throws {
            let clock = LocalClock.system
            let now = WallClock.nowMillis()
            let start: Int64, end: Int64
            do {
                start = try since.map { try ReportTime.parse($0, now: now, clock: clock) } ?? now - 12 * 3_600_000
                end = try until.map { try ReportTime.parse($0, now: now, clock: clock) } ?? now
            } catch {
                printError("monitorctl report: \(error)")
                throw ExitCode(2)
            }
            guard start < end else {
                printError("monitorctl report: --since (\(clock.dateTime(start))) must be before --until (\(clock.dateTime(end)))")
                throw ExitCode(2)
            }

            var daemonPid: Int? = nil
            let logPath: String
            if let log {
                logPath = log
            } else {
                var status = DaemonStatus()
                try withClient(root.socketPath, timeout: root.timeout) { client throws(ControlClientError) in status = try client.status() }
                guard status.eventLog.hasPrefix("/") else {
                    printError("monitorctl report: the daemon's event log path \"\(status.eventLog)\" is not absolute; give --log PATH")
                    throw SysExit.failure
                }
                logPath = status.eventLog
                daemonPid = status.pid
            }

            let night: Night
            do {
                let files = try EventLogFiles.files(forLog: logPath)
                let (lines, notes) = try EventLogFiles.lines(of: files)
                night = Night.build(lines: lines, since: start, until: end, extendToLastEvent: until == nil, files: files, notes: notes,
                                    isRunning: { $0 == daemonPid || isDaemonProcess($0) })
            } catch {
                printError("monitorctl report: \(error)")
                throw SysExit.ioError
            }

            if let svg {
                try writeFile(svg, night.svg(clock: clock))
            }
            if let png {
                try renderPNG(night.svg(clock: clock), to: png)
            }
            printLine(json ? night.json.description : night.text(clock: clock))
        }
    }
}

/// Whether `pid` is a babymonitord of this machine (the log's last run may still be running).
func isDaemonProcess(_ pid: Int) -> Bool {
    guard pid > 0, let comm = readSmallFile("/proc/\(pid)/comm") else { return false }
    return comm.hasPrefix("babymonitord")
}

func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 256)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    return n > 0 ? String(decoding: buf[..<n], as: UTF8.self) : nil
}

/// Writes `text` to `path` (replacing it), exit 74 with the reason on failure.
func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        printError("monitorctl report: cannot write \(path): \(errnoDescription(errno))")
        throw SysExit.ioError
    }
    defer { close(fd) }
    var bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
            printError("monitorctl report: cannot write \(path): \(errnoDescription(errno))")
            throw SysExit.ioError
        }
        off += n
    }
}

/// SVG -> PNG with rsvg-convert (librsvg2-bin), 720 px wide, through a temporary SVG file.
func renderPNG(_ svg: String, to path: String) throws {
    var template = Array("/tmp/monitorctl-report-XXXXXX.svg".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemps($0.baseAddress!, 4) }
    guard fd >= 0 else {
        printError("monitorctl report: cannot create a temporary file in /tmp: \(errnoDescription(errno))")
        throw SysExit.ioError
    }
    close(fd)
    let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    defer { unlink(tmp) }
    try writeFile(tmp, svg)
    let args = ["rsvg-convert", "--format", "png", "--output", path, tmp]
    var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, "rsvg-convert", nil, nil, &cargs, environ)
    guard rc == 0 else {
        printError("monitorctl report: cannot run rsvg-convert (\(errnoDescription(rc))); install librsvg2-bin, or use --svg FILE")
        throw SysExit.failure
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    guard status == 0 else {
        printError("monitorctl report: rsvg-convert failed (wait status \(status)) writing \(path)")
        throw SysExit.failure
    }
}
