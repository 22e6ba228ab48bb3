import Testing
import Foundation
import ThreadSupport
import ControlProtocol
@testable import MonitorDaemon

@Suite struct ControlServerTests {
    static func handlers() -> ControlHandlers {
        ControlHandlers(
            status: {
                var s = DaemonStatus()
                s.version = "test"
                s.state = "listening"
                s.input = "wav:/x.wav"
                s.framesProcessed = 42
                s.currentEpisode = 3
                return s
            },
            recentEvents: { limit in
                Array((0..<30).map { MonitorEvent(type: "test", fields: [("seq", .number(Double($0)))]) }.suffix(limit))
            })
    }

    func withServer(_ tweak: (inout ControlServer.Options) -> Void = { _ in },
                    _ body: (ControlServer, String) throws -> Void) throws {
        let dir = makeTempDirectory("bmsock"); defer { removeTree(dir) }
        var options = ControlServer.Options(path: dir + "/control.sock")
        tweak(&options)
        let server = try ControlServer(options: options, handlers: Self.handlers())
        try server.start()
        defer { server.stop() }
        try body(server, options.path)
    }

    @Test func statusRoundTrip() throws {
        try withServer { _, path in
            var st = stat()
            #expect(lstat(path, &st) == 0 && st.st_mode & 0o777 == 0o660)
            let client = try ControlClient(socketPath: path, receiveTimeoutSeconds: 10)
            let s = try client.status()
            #expect(s.version == "test" && s.state == "listening" && s.framesProcessed == 42 && s.currentEpisode == 3)
            let events = try client.recentEvents(limit: 5)
            #expect(events.map { $0["seq"]?.intValue } == [25, 26, 27, 28, 29])
        }
    }

    @Test func garbageThenValidRequestOnSameConnection() throws {
        try withServer { _, path in
            let client = try ControlClient(socketPath: path, receiveTimeoutSeconds: 10)
            for garbage in ["hello", "{\"cmd\":\"reboot\"}", "[1,2]", "{\"cmd\":7}", "{\"cmd\":\"status\",\"x\":1}", "{\"cmd\""] {
                try client.send(raw: garbage + "\n")
                let answer = try JSONValue.parse(try #require(try client.readLine()))
                #expect(answer["ok"]?.boolValue == false)
                #expect(answer["error"]?.stringValue?.isEmpty == false)
            }
            #expect(try client.status().state == "listening")
        }
    }

    @Test func overLongLineIsRefusedAndConnectionStaysUsable() throws {
        try withServer { _, path in
            let client = try ControlClient(socketPath: path, receiveTimeoutSeconds: 10)
            try client.send(raw: "{\"cmd\":\"status\",\"pad\":\"" + String(repeating: "x", count: 20_000) + "\"}\n")
            let answer = try JSONValue.parse(try #require(try client.readLine()))
            #expect(answer["ok"]?.boolValue == false)
            #expect(answer["error"]?.stringValue?.contains("longer than 4096") == true)
            #expect(try client.status().framesProcessed == 42)
        }
    }

    @Test func fiftyClientsAtOnce() throws {
        try withServer { server, path in
            let clients = try (0..<50).map { _ in try ControlClient(socketPath: path, receiveTimeoutSeconds: 10) }
            #expect(waitUntil { server.stats.clients == 50 })
            for c in clients { try c.send(.status) }
            for c in clients { #expect(try c.readMessage()["status"]?["frames_processed"]?.intValue == 42) }
            // And from 50 threads at once.
            let ok = Locked(0)
            DispatchQueue.concurrentPerform(iterations: 50) { _ in
                if let c = try? ControlClient(socketPath: path, receiveTimeoutSeconds: 10),
                   (try? c.status().state) == "listening" {
                    ok.withLock { $0 += 1 }
                }
            }
            #expect(ok.withLock { $0 } == 50)
        }
    }

    /// A subscriber that never reads overflows its bounded queue and is dropped; another
    /// subscriber, reading, gets every event in order; publishing never waits.
    @Test func slowSubscriberDroppedOtherGetsEveryEvent() throws {
        try withServer({ $0.clientQueueBytes = 16 * 1024; $0.sendBufferBytes = 4096 }) { server, path in
            let stuck = try ControlClient(socketPath: path)
            try stuck.send(.subscribe)
            let reader = try ControlClient(socketPath: path, receiveTimeoutSeconds: 20)
            #expect(try reader.request(.subscribe)["ok"]?.boolValue == true)
            #expect(waitUntil { server.stats.subscribers == 2 })

            let total = 2000
            let received = Locked<[Int]>([])
            let readerDone = DispatchSemaphore(value: 0)
            let readerThread = Thread {
                while received.withLock({ $0.count }) < total {
                    guard let line = try? reader.readLine(), let v = try? JSONValue.parse(line),
                          let seq = v["seq"]?.intValue else { break }
                    received.withLock { $0.append(seq) }
                }
                readerDone.signal()
            }
            readerThread.start()
            for i in 0..<total {
                server.publish(MonitorEvent(type: "test", fields: [("seq", .number(Double(i))), ("pad", .string(String(repeating: "p", count: 60)))]))
                if i % 20 == 19 { _ = waitUntil { received.withLock { $0.count } > i } }
            }
            readerDone.wait()
            #expect(received.withLock { $0 } == Array(0..<total))
            #expect(waitUntil { server.stats.droppedSubscribers == 1 })
            #expect(server.stats.subscribers == 1)
            withExtendedLifetime(stuck) {}
        }
    }

    @Test func staleSocketIsReplaced() throws {
        let dir = makeTempDirectory("bmsock"); defer { removeTree(dir) }
        let path = dir + "/control.sock"
        // A socket file nobody listens on, as a crashed daemon leaves it.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        _ = try UnixSocketAddress.with(path: path) { bind(fd, $0, $1) }
        close(fd)
        #expect(FileManager.default.fileExists(atPath: path))
        let server = try ControlServer(options: .init(path: path), handlers: Self.handlers())
        try server.start()
        #expect(try ControlClient(socketPath: path, receiveTimeoutSeconds: 10).status().version == "test")
        server.stop()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func liveSocketIsRefused() throws {
        try withServer { _, path in
            let second = try ControlServer(options: .init(path: path), handlers: Self.handlers())
            #expect(throws: DaemonError.socketInUse(path)) { try second.start() }
            // The first still answers.
            #expect(try ControlClient(socketPath: path, receiveTimeoutSeconds: 10).status().version == "test")
        }
    }

    @Test func regularFileAtSocketPathIsNotRemoved() throws {
        let dir = makeTempDirectory("bmsock"); defer { removeTree(dir) }
        let path = dir + "/control.sock"
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep".utf8))
        let server = try ControlServer(options: .init(path: path), handlers: Self.handlers())
        #expect(throws: DaemonError.self) { try server.start() }
        #expect(readFile(path) == "keep")
    }

    @Test func unknownGroupIsAClearError() throws {
        let dir = makeTempDirectory("bmsock"); defer { removeTree(dir) }
        let server = try ControlServer(options: .init(path: dir + "/c.sock", group: "no-such-group-xyz"), handlers: Self.handlers())
        #expect(throws: DaemonError.socketPath(dir + "/c.sock", "group \"no-such-group-xyz\" (control.group) does not exist")) {
            try server.start()
        }
    }

    @Test func socketGroupIsApplied() throws {
        guard let gr = getgrnam("audio") ?? getgrnam("daemon") else {
            print("skipped: no 'audio' or 'daemon' group on this machine")
            return
        }
        let name = String(cString: gr.pointee.gr_name), gid = gr.pointee.gr_gid
        try withServer({ $0.group = name }) { _, path in
            var st = stat()
            #expect(lstat(path, &st) == 0 && st.st_gid == gid && st.st_mode & 0o777 == 0o660)
        }
    }

    @Test func noDaemonIsUnreachable() throws {
        #expect(throws: ControlClientError.unreachable(path: "/tmp/does-not-exist.sock", errno: ENOENT)) {
            _ = try ControlClient(socketPath: "/tmp/does-not-exist.sock")
        }
    }
}
