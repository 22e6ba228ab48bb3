import Testing
import Foundation
import ControlProtocol
import AudioIO
import CryModel
@testable import MonitorDaemon

/// Bad and greedy clients on the real daemon's control socket while events flow.
@Suite(.serialized) struct SocketAbuseTests {
    /// A raw connection (for bytes ControlClient would not send).
    final class RawConnection {
        let fd: Int32
        private var buffer: [UInt8] = []

        init(_ path: String, receiveBufferBytes: Int? = nil) throws {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            try #require(fd >= 0)
            if let size = receiveBufferBytes {
                var v = Int32(size)
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, socklen_t(MemoryLayout<Int32>.size))
            }
            var tv = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let rc = try UnixSocketAddress.with(path: path) { connect(fd, $0, $1) }
            try #require(rc == 0, "connect \(path): \(errno)")
        }

        deinit { close() }
        private var closed = false
        func close() {
            if !closed { closeDescriptor(fd); closed = true }
        }

        func send(_ bytes: [UInt8]) throws {
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                try #require(n > 0 || errno == EINTR, "send: \(errno)")
                if n > 0 { off += n }
            }
        }

        /// The next line, nil at end of stream or after the receive timeout.
        func readLine() -> String? {
            while true {
                if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    defer { buffer.removeSubrange(...nl) }
                    return String(decoding: buffer[..<nl], as: UTF8.self)
                }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return nil }
                buffer += chunk[..<n]
            }
        }
    }

    @Test func garbageHalfOpenManyClientsAndAStuckSubscriber() throws {
        let dir = makeTempDirectory("bmabuse"); defer { removeTree(dir) }
        let sock = dir + "/control.sock", log = dir + "/events.jsonl"
        // A minute of cries every 2 s, replayed in real time (stopped early): events flow
        // all along; a stalled pipeline would stop audio_seconds and overflow the ring (5 s).
        let clip = Integration.clip(cries: stride(from: 0.5, to: 59, by: 2).map { ($0, 1.0) }, total: 60)
        let wav = dir + "/cries.wav"
        try WAVWriter.write(AudioBuffer(samples: clip, sampleRate: Integration.rate), to: wav)
        try Integration.writeCauseModel(dir + "/cause.safetensors")
        let config = Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            ring_seconds = 5
            [models]
            cause = "cause.safetensors"
            [detector]
            energy_only = true
            [classifier]
            first_decision_s = 0.2
            restart_every_s = 0.2
            """)
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "realtime",
                                                "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")

        // A subscriber that never reads, with a tiny receive buffer.
        let stuck = try RawConnection(sock, receiveBufferBytes: 1024)
        try stuck.send(Array(ControlRequest.subscribe.line.utf8))
        // And one that does.
        let listener = try ControlClient(socketPath: sock, receiveTimeoutSeconds: 20)
        #expect(try listener.request(.subscribe)["ok"]?.boolValue == true)

        // Random bytes (newlines among them): each line gets an error, the connection stays usable.
        var rng = SplitMix64(seed: 5)
        let garbage = try RawConnection(sock)
        try garbage.send((0..<3000).map { _ in UInt8(truncatingIfNeeded: rng.next()) } + Array("\n".utf8))
        try garbage.send(Array(ControlRequest.status.line.utf8))
        var errors = 0
        var answered = false
        while let line = garbage.readLine() {
            let value = try JSONValue.parse(line)   // every reply is JSON, even to garbage
            if value["ok"]?.boolValue == true { answered = value["status"] != nil; break }
            #expect(value["ok"]?.boolValue == false && value["error"]?.stringValue != nil, "\(line)")
            errors += 1
        }
        #expect(answered && errors > 0)

        // A line over the size limit: one error, then the connection still works.
        let long = try ControlClient(socketPath: sock, receiveTimeoutSeconds: 20)
        try long.send(raw: "{\"cmd\":\"status\",\"pad\":\"" + String(repeating: "x", count: 3 * maxRequestLineBytes) + "\"}\n")
        let refusal = try JSONValue.parse(try #require(try long.readLine()))
        #expect(refusal["ok"]?.boolValue == false)
        #expect(refusal["error"]?.stringValue?.contains("longer than \(maxRequestLineBytes) bytes") == true)
        #expect(try long.status().input == "wav:" + wav)

        // Half-open: connections closed mid-line, or right away, or that stop sending.
        for _ in 0..<5 {
            let half = try RawConnection(sock)
            try half.send(Array("{\"cmd\":\"sta".utf8))
            half.close()
            try RawConnection(sock).close()
        }
        let mute = try RawConnection(sock)
        try mute.send(Array("{\"cmd\":".utf8))
        shutdown(mute.fd, Int32(SHUT_WR))

        // 50 clients at once: all connected, all ask, all are answered.
        let many = try (0..<50).map { _ in try ControlClient(socketPath: sock, receiveTimeoutSeconds: 20) }
        for c in many { try c.send(.status) }
        var statuses = 0
        for c in many {
            let answer = try c.readMessage()
            if let s = answer["status"], (try? DaemonStatus(json: s))?.input == "wav:" + wav { statuses += 1 }
        }
        #expect(statuses == 50)
        for c in many { c.close() }

        // Events reach the reading subscriber; the pipeline keeps up (no ring drops) while
        // the stuck one holds its connection.
        var heard: Set<String> = []
        while !heard.contains("cry_start") || !heard.contains("need"), let line = try listener.readLine() {
            heard.insert((try? JSONValue.parse(line))?["type"]?.stringValue ?? "")
        }
        #expect(heard.isSuperset(of: ["cry_start", "need"]))
        let before = try client.status()
        #expect(waitUntil(seconds: 30) { ((try? client.status().audioSeconds) ?? 0) > before.audioSeconds + 1.5 })
        let after = try client.status()
        #expect(after.droppedSamples == 0 && after.xruns == 0)
        #expect(after.state == "listening" || after.state == "cry")
        #expect(after.subscribers >= 1)
        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "status"])
        #expect(code == 0 && text.contains("wav:" + wav), "\(text)")

        // The stuck client does not hold up shutdown.
        #expect(Integration.terminate(run) == 0, "\(run.errorText)")
        #expect(!FileManager.default.fileExists(atPath: sock))
        let types = try DaemonProcessTests.events(log).map { $0["type"]?.stringValue ?? "" }
        #expect(!types.contains("overrun"), "\(types)")
        #expect(types.last == "stopping")
        stuck.close()
        mute.close()
    }
}
