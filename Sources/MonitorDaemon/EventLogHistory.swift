#if canImport(Glibc)
import Glibc
#endif
import ControlProtocol

/// What a restarted daemon takes over from its event log: episode numbers go on from the
/// last one written (scripts key on them), and `episodes_today` counts today's earlier
/// episodes. Only the log's tail is read (the newest events), so start-up stays quick.
public struct EventLogHistory: Equatable, Sendable {
    public var lastEpisode = 0
    public var episodesToday = 0

    public init(lastEpisode: Int = 0, episodesToday: Int = 0) {
        self.lastEpisode = lastEpisode
        self.episodesToday = episodesToday
    }

    /// Reads the last `tailBytes` of `path` (and of `path.1` when that holds no episode yet).
    public static func scan(path: String, tailBytes: Int = 256 * 1024, today: String = EventPublisher.localDay(WallClock.nowMillis())) -> EventLogHistory {
        var history = EventLogHistory()
        for candidate in [path, path + ".1"] {
            let lines = tail(candidate, bytes: tailBytes)
            for line in lines {
                guard let v = try? JSONValue.parse(line) else { continue }   // a foreign or cut line
                if let e = v["episode"]?.intValue { history.lastEpisode = max(history.lastEpisode, e) }
                if candidate == path, v["type"]?.stringValue == MonitorEvent.Kind.cryStart,
                   let ts = v["ts"]?.stringValue, let millis = WallClock.parseISO8601(ts),
                   EventPublisher.localDay(millis) == today {
                    history.episodesToday += 1
                }
            }
            if history.lastEpisode > 0 { break }
        }
        return history
    }

    /// Whole lines in the last `bytes` of a file (the first, possibly cut, is skipped).
    static func tail(_ path: String, bytes: Int) -> [String] {
        // O_NONBLOCK: a FIFO at the log's path must not hang start-up (it is refused later).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return [] }
        defer { _ = close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return [] }
        let size = Int(st.st_size)
        let start = max(0, size - bytes)
        var buffer = [UInt8](repeating: 0, count: size - start)
        var got = 0
        while got < buffer.count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(start + got)) }
            if n <= 0 { break }
            got += n
        }
        var lines = buffer[..<got].split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
        if start > 0 && !lines.isEmpty { lines.removeFirst() }
        return lines
    }
}
