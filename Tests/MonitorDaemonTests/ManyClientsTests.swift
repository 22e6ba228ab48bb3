import Testing
import Foundation
import AudioIO
import ThreadSupport
import ControlProtocol
@testable import MonitorDaemon

/// Issue 6: 200 concurrent clients on the real daemon's socket while audio flows, and the
/// clean refusal of clients over the server's limit.
@Suite(.serialized) struct ManyClientsTests {
    /// Makes sure this process (and so the daemon it starts, which inherits the limit) may
    /// open `needed` descriptors: raises the soft RLIMIT_NOFILE towards the hard one.
    static func ensureDescriptorLimit(_ needed: rlim_t) -> rlim_t {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < needed {
            limit.rlim_cur = min(needed, limit.rlim_max)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        return limit.rlim_cur
    }

    /// The soft "Max open files" of a running process, from /proc.
    static func openFilesLimit(pid: Int32) -> Int? {
        guard let text = readFile("/proc/\(pid)/limits"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else { return nil }
        return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.flatMap { Int($0) }
    }

    @Test func twoHundredConcurrentClientsAreAllServed() throws {
        let clientCount = 200
        let limit = Self.ensureDescriptorLimit(1024)
        try #require(limit >= rlim_t(clientCount + 64), "RLIMIT_NOFILE \(limit) is too low for \(clientCount) clients")

        let dir = makeTempDirectory("bmmany"); defer { removeTree(dir) }
        let wav = dir + "/cries.wav", log = dir + "/events.jsonl", sock = dir + "/control.sock"
        // Cries every 2 s, replayed in real time (stopped early): the pipeline works all along.
        let clip = Integration.clip(cries: stride(from: 0.5, to: 29, by: 2).map { ($0, 1.0) }, total: 30)
        try WAVWriter.write(AudioBuffer(samples: clip, sampleRate: Integration.rate), to: wav)
        let config = Integration.writeConfig(dir, """
            [audio]
            sample_rate = 8000
            ring_seconds = 5
            [detector]
            energy_only = true
            """)
        let run = try DaemonProcessTests.start(["--config", config, "--input", "wav:" + wav, "--pace", "realtime",
                                                "--event-log", log, "--socket", sock], in: dir)
        defer { run.stop() }
        let client = try #require(Integration.client(sock), "\(run.errorText)")
        let daemonLimit = try #require(Self.openFilesLimit(pid: run.process.processIdentifier))
        #expect(daemonLimit >= clientCount + 64, "the daemon may open only \(daemonLimit) files")

        // All connect at once (from as many threads as the machine runs), then all ask, then
        // all read; every connection stays open until every answer is in.
        let connections = Locked<[ControlClient]>([])
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: clientCount) { _ in
            do {
                let c = try ControlClient(socketPath: sock, receiveTimeoutSeconds: 30)
                connections.withLock { $0.append(c) }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        let many = connections.withLock { $0 }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(3))")
        #expect(many.count == clientCount)
        let answers = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: many.count) { i in
            do {
                try many[i].send(.status)
                let line = try many[i].readLine() ?? "(end of stream)"
                answers.withLock { $0.append(line) }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(3))")
        var served = 0
        for line in answers.withLock({ $0 }) {
            let answer = try JSONValue.parse(line)   // well formed, whatever it says
            if answer["ok"]?.boolValue == true,
               let s = answer["status"], (try? DaemonStatus(json: s))?.input == "wav:" + wav { served += 1 }
            else { Issue.record("not a status answer: \(line)") }
        }
        #expect(served == clientCount)
        #expect(try client.status().input == "wav:" + wav)   // the first client, too
        for c in many { c.close() }

        // The daemon is still there, the pipeline kept up, and a newcomer is served.
        #expect(run.process.isRunning)
        let before = try client.status()
        #expect(waitUntil(seconds: 30) { ((try? client.status().audioSeconds) ?? 0) > before.audioSeconds + 0.5 })
        let after = try client.status()
        #expect(after.droppedSamples == 0 && after.xruns == 0)
        #expect(after.state == "listening" || after.state == "cry")
        let newcomer = try ControlClient(socketPath: sock, receiveTimeoutSeconds: 20)
        #expect(try newcomer.status().pid == Int(run.process.processIdentifier))
        let (code, text) = try DaemonProcessTests.monitorctl(["--socket", sock, "status"])
        #expect(code == 0 && text.contains("wav:" + wav), "\(text)")
        #expect(Integration.terminate(run) == 0, "\(run.errorText)")
        #expect(try DaemonProcessTests.events(log).last?["type"]?.stringValue == "stopping")
    }

    /// The default limit is bounded and leaves room for issue 6's 200 clients.
    @Test func defaultClientLimit() {
        let options = ControlServer.Options(path: "/tmp/unused.sock")
        #expect(options.maxClients >= 200 && options.maxClients <= 1024)
    }

    /// One client over the limit takes the reserved slot (issue 16): one status is answered,
    /// then the connection closes; a subscribe there gets `{"ok":false,"error":"too many
    /// clients (N)..."}` and end of stream, and so does a slot holder a newer connection
    /// displaces. The clients within the limit are served before and after, and once one
    /// leaves a newcomer is served again.
    @Test func clientOverTheLimitGetsACleanRefusal() throws {
        let dir = makeTempDirectory("bmlimit"); defer { removeTree(dir) }
        var options = ControlServer.Options(path: dir + "/control.sock")
        options.maxClients = 3
        let server = try ControlServer(options: options, handlers: ControlServerTests.handlers())
        try server.start()
        defer { server.stop() }
        let inside = try (0..<3).map { _ in try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 10) }
        for c in inside { #expect(try c.status().state == "listening") }

        let over = try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 10)
        try over.send(.subscribe)
        let refusal = try JSONValue.parse(try #require(try over.readLine()))
        #expect(refusal["ok"]?.boolValue == false)
        #expect(refusal["error"]?.stringValue?.hasPrefix("too many clients (3)") == true, "\(refusal)")
        #expect(try over.readLine() == nil)   // closed after the refusal
        let displaced = try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 10)
        #expect(waitUntil { server.stats.clients == 4 })
        let newer = try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 10)
        let moved = try JSONValue.parse(try #require(try displaced.readLine()))
        #expect(moved["error"]?.stringValue == "too many clients (3); the reserved slot went to a newer connection", "\(moved)")
        #expect(try newer.status().state == "listening")
        #expect(try newer.readLine() == nil)
        for c in inside { #expect(try c.status().state == "listening") }

        inside[0].close()
        #expect(waitUntil { server.stats.clients == 2 })
        let later = try ControlClient(socketPath: options.path, receiveTimeoutSeconds: 10)
        #expect(try later.status().state == "listening")
    }
}
