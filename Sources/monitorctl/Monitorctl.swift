#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CommandLineSupport
import ControlProtocol

/// sysexits codes (interfaces.md).
enum SysExit {
    static let failure = ExitCode(1)
    static let unavailable = ExitCode(69)   // EX_UNAVAILABLE: no daemon
    static let ioError = ExitCode(74)
    static let dataError = ExitCode(65)     // EX_DATAERR: a label or model the daemon refused
}

let defaultSocketPath = "/run/babymonitor/control.sock"

@main
struct Monitorctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitorctl",
        abstract: "Talk to a running babymonitord over its control socket.",
        discussion: "Exit status: 0 ok, 1 the daemon refused or failed, 2 usage, 65 a label or model refused, 69 no daemon at the socket (or no answer within --timeout, or permission denied).",
        subcommands: [Status.self, Events.self, Report.self, Label.self, Reload.self, Adapt.self, Rooms.self])

    /// Usage errors exit 2 (interfaces.md), not ArgumentParser's 64.
    static func main() {
        // A daemon closing the connection (at its client limit) is an error to report, not
        // a silent death by SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        mainWithProjectExitCodes()
    }

    @Option(help: ArgumentHelp("Seconds to wait for the daemon's answer (and for the subscription with --follow; events then wait forever).",
                               valueName: "SECONDS"))
    var timeout: Int = 10

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be at least 1 second, got \(timeout)") }
    }

    @Option(name: .long, help: ArgumentHelp("Control socket of the daemon (default: $BABYMONITOR_SOCKET or \(defaultSocketPath)).",
                                            valueName: "PATH"))
    var socket: String?

    var socketPath: String {
        if let socket { return socket }
        if let env = getenv("BABYMONITOR_SOCKET"), env.pointee != 0 { return String(cString: env) }
        return defaultSocketPath
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what the daemon is doing.")
        @ParentCommand var root: Monitorctl
        @Flag(help: "Print the daemon's JSON status object as is (one line).") var json = false

        func run() throws {
            let path = root.socketPath
            try withClient(path, timeout: root.timeout) { client throws(ControlClientError) in
                let answer = try client.request(.status)
                guard let statusJSON = answer["status"] else { throw .protocolError("status answer has no \"status\"") }
                if json {
                    printLine(statusJSON.description)
                    return
                }
                let s: DaemonStatus
                do { s = try DaemonStatus(json: statusJSON) } catch { throw .protocolError("\(error)") }
                printLine(render(s))
            }
        }
    }

    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print recent events, or follow new ones.",
            discussion: "Without --follow: the last events the daemon keeps in memory. With --follow: every new event until interrupted.")
        @ParentCommand var root: Monitorctl
        @Flag(help: "Subscribe and print each new event as it happens.") var follow = false
        @Flag(help: "Print events as JSON lines, exactly as the daemon sends them.") var json = false
        @Option(help: "How many recent events to print (without --follow).") var limit: Int = defaultRecentEventCount

        func validate() throws {
            guard limit >= 0 else { throw ValidationError("--limit must be 0 or more, got \(limit)") }
        }

        func run() throws {
            let path = root.socketPath
            try withClient(path, timeout: root.timeout) { client throws(ControlClientError) in
                if !follow {
                    let events = try client.recentEvents(limit: limit)
                    // Labels beside their episodes: a parent reads "episode 12 ... [not-cry]".
                    var labels: [Int: [String]] = [:]
                    for e in events where e.type == MonitorEvent.Kind.label {
                        if let n = e.episode, let all = e["labels"]?.arrayValue { labels[n] = all.compactMap(\.stringValue) }
                    }
                    for event in events {
                        if json { printLine(event.json.description); continue }
                        var line = render(event)
                        if event.type == MonitorEvent.Kind.cryEnd || event.type == MonitorEvent.Kind.cryStart,
                           let n = event.episode, let l = labels[n], !l.isEmpty {
                            line += "  [labelled \(l.joined(separator: ", "))]"
                        }
                        printLine(line)
                    }
                    return
                }
                _ = try client.request(.subscribe)
                client.setReceiveTimeout(seconds: 0)   // events may be hours apart
                while let line = try client.readLine() {
                    let value: JSONValue
                    do { value = try JSONValue.parse(line) } catch { throw .protocolError("\(error)") }
                    if value["ok"]?.boolValue == false {
                        throw .refused(value["error"]?.stringValue ?? line)
                    }
                    if json {
                        printLine(line)
                    } else if let event = try? MonitorEvent(json: value) {
                        printLine(render(event))
                    }
                }
                throw .io("the daemon at \(path) closed the connection")
            }
        }
    }
}

extension Monitorctl {
    struct Label: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what an episode really was (its audio must still be kept).",
            discussion: """
                EPISODE is an episode number (see `monitorctl events`) or `last`. LABEL is one of: \
                \(EpisodeLabel.knownList). `not-cry` marks a false alarm; a cause says the cry was \
                a cry and why. The label goes to the event log and the episode's sidecar, for \
                `crymodel adapt`. Exit 65 when the episode is unknown, its audio is gone, or the \
                label is not one of these.
                """)
        @ParentCommand var root: Monitorctl
        @Argument(help: ArgumentHelp("Episode number or `last`.", valueName: "EPISODE")) var episode: String
        @Argument(help: ArgumentHelp("What it was: \(EpisodeLabel.knownList).", valueName: "LABEL")) var label: String
        @Flag(help: "Print the daemon's label event as JSON.") var json = false

        func run() throws {
            let reference: EpisodeReference
            let value: EpisodeLabel
            do {
                reference = try EpisodeReference.parse(episode)
                value = try EpisodeLabel.parse(label)
            } catch {
                printError("monitorctl: \(error)")
                throw SysExit.dataError
            }
            let path = root.socketPath
            try withClient(path, timeout: root.timeout, refusedCode: SysExit.dataError) { client throws(ControlClientError) in
                let answer = try client.request(.label(episode: reference, label: value))
                guard let eventJSON = answer["label"] else { throw .protocolError("label answer has no \"label\"") }
                if json { printLine(eventJSON.description); return }
                let n = eventJSON["episode"]?.intValue.map(String.init) ?? reference.description
                let all = eventJSON["labels"]?.arrayValue?.compactMap(\.stringValue) ?? [value.rawValue]
                printLine("episode \(n) labelled \(value.rawValue) (labels: \(all.joined(separator: ", ")))")
            }
        }
    }

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reload the models (adapted ones from [models] adapted_dir first).",
            discussion: "The daemon checks the new models, then swaps them in between frames outside a cry episode. A model that fails to load or check is refused (exit 65) and the one in use is kept.")
        @ParentCommand var root: Monitorctl

        func run() throws {
            let path = root.socketPath
            try withClient(path, timeout: root.timeout, refusedCode: SysExit.dataError) { client throws(ControlClientError) in
                let answer = try client.request(.reload)
                let adapted = Set(answer["adapted"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                for (role, value) in answer["models"]?.objectValue ?? [] {
                    printLine("\(pad(role, 9))\(value.stringValue ?? "?")\(adapted.contains(role) ? " (adapted)" : "")")
                }
            }
        }
    }
}

extension Monitorctl {
    struct Adapt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Adapt the models to this home's labelled episodes (crymodel adapt, run by the daemon).",
            discussion: """
                The daemon runs `crymodel adapt` on its kept episodes as a child process at the lowest \
                CPU priority ([models] crymodel, adapt_steps); `monitorctl status` shows its progress. \
                When it ends, the models it wrote are reloaded (a model refused as worse than the \
                shipped one is not written; the one in use stays). With --wait: waits for the end \
                and exits 0 when done, 1 when a model was refused or the adaptation failed. Exit 65 \
                when the daemon cannot start it (one already running, no kept audio, no crymodel).
                """)
        @ParentCommand var root: Monitorctl
        @Flag(help: "Wait until the adaptation ends, printing its progress.") var wait = false

        func run() throws {
            let path = root.socketPath
            var final: AdaptationStatus?
            try withClient(path, timeout: root.timeout, refusedCode: SysExit.dataError) { client throws(ControlClientError) in
                let answer = try client.request(.adapt)
                let a = answer["adaptation"].map(AdaptationStatus.init(json:)) ?? AdaptationStatus(state: "running")
                printLine("adaptation started (pid \(a.pid ?? 0)); progress in `monitorctl status`")
            }
            guard wait else { return }
            var lastProgress = ""
            while final == nil {
                usleep(500_000)
                try withClient(path, timeout: root.timeout) { client throws(ControlClientError) in
                    let answer = try client.request(.status)
                    guard let json = answer["status"] else { throw .protocolError("status answer has no \"status\"") }
                    let s: DaemonStatus
                    do { s = try DaemonStatus(json: json) } catch { throw .protocolError("\(error)") }
                    if s.adaptation.state == "running" {
                        if let p = s.adaptation.progress, p != lastProgress { printLine(p); lastProgress = p }
                    } else {
                        final = s.adaptation
                    }
                }
            }
            printLine(renderAdaptation(final!))
            if final!.state != "done" { throw SysExit.failure }
        }
    }
}

/// Connects, runs `body`, and maps failures to the exit codes of interfaces.md.
func withClient(_ path: String, timeout: Int, refusedCode: ExitCode = SysExit.failure,
                _ body: (ControlClient) throws(ControlClientError) -> Void) throws {
    do {
        let client = try ControlClient(socketPath: path, receiveTimeoutSeconds: timeout)
        try body(client)
    } catch {
        printError("monitorctl: \(error)")
        switch error {
        case .unreachable, .badPath: throw SysExit.unavailable
        case .io: throw SysExit.unavailable
        case .refused: throw refusedCode
        case .protocolError: throw SysExit.failure
        }
    }
}

/// One write per line, flushed (events --follow is read live through pipes).
func printLine(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { buf in
        var off = 0
        while off < buf.count {
            let n = write(1, buf.baseAddress! + off, buf.count - off)
            if n <= 0 { if errno == EINTR { continue }; exit(74) }
            off += n
        }
    }
}

func printError(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
}
