#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CommandLineSupport
import MonitorDaemon

let defaultConfigPath = "/etc/babymonitor/babymonitor.toml"

@main
struct Babymonitord: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "babymonitord",
        abstract: "Infant-cry monitor daemon: capture -> cry detector -> cause classifier -> events.",
        discussion: """
            Events go to the JSON-lines event log and to subscribers of the control socket \
            (see monitorctl). Signals: SIGTERM/SIGINT stop (final events, socket removed, exit 0); \
            SIGHUP reopens the event log (logrotate) and reloads the models (adapted ones first). \
            With --input wav: the daemon exits 0 after the file's last event is written (unless --keep-running). Exit status: 0 ok, 1 failure (socket in use...), 2 usage, \
            65 bad input file, 74 I/O error (also at the end when events could not be written to the \
            event log), 78 configuration error.
            """,
        version: babymonitorVersion)

    /// Usage errors exit 2 (interfaces.md), not ArgumentParser's 64.
    static func main() { mainWithProjectExitCodes() }

    @Option(help: ArgumentHelp("Configuration file (default: \(defaultConfigPath) if it exists, else built-in defaults).",
                               valueName: "PATH"))
    var config: String?

    @Option(help: ArgumentHelp("alsa:PCM to capture from an ALSA PCM, or wav:PATH to replay a file (default: alsa: with [audio] pcm).",
                               valueName: "alsa:PCM|wav:PATH"))
    var input: String?

    @Option(help: ArgumentHelp("Replay pace for wav: input: realtime, or fast (waits for the pipeline instead of dropping).",
                               valueName: "realtime|fast"))
    var pace: String?

    @Option(name: .customLong("event-log"), help: ArgumentHelp("Event log file (overrides [log] event_log).", valueName: "PATH"))
    var eventLog: String?

    @Option(help: ArgumentHelp("Control socket (overrides [control] socket).", valueName: "PATH"))
    var socket: String?

    @Option(name: .customLong("state-dir"),
            help: ArgumentHelp("Keep episode audio in DIR/episodes and take adapted models from DIR/models (overrides [episodes] dir and [models] adapted_dir).",
                               valueName: "DIR"))
    var stateDir: String?

    @Flag(name: .customLong("keep-running"),
          help: "With --input wav: keep running after the file's end (state finished, socket up) until SIGTERM, so the replayed night can be labelled.")
    var keepRunning = false

    func run() throws {
        let input: InputSpec?
        do { input = try self.input.map { text throws(DaemonError) in try InputSpec(parsing: text) } } catch {
            throw ValidationError(error.description)
        }
        var replayPace = ReplayPace.realtime
        if let pace {
            guard let p = ReplayPace(rawValue: pace) else {
                throw ValidationError("--pace \(pace): expected realtime or fast")
            }
            guard case .wav = input else { throw ValidationError("--pace applies to --input wav:PATH only") }
            replayPace = p
        }

        if keepRunning {
            guard case .wav = input else { throw ValidationError("--keep-running applies to --input wav:PATH only") }
        }

        var daemonConfig = DaemonConfig()
        let configPath = config ?? (access(defaultConfigPath, F_OK) == 0 ? defaultConfigPath : nil)
        if let configPath {
            do { daemonConfig = try DaemonConfig.load(path: configPath) } catch {
                fail("configuration error: \(error)", code: 78)
            }
        }
        if let stateDir {
            guard !stateDir.isEmpty, !stateDir.utf8.contains(0) else { throw ValidationError("--state-dir must be a directory path") }
            daemonConfig.episodes.dir = stateDir + "/episodes"
            daemonConfig.models.adaptedDir = stateDir + "/models"
        }
        let options = DaemonOptions(config: daemonConfig, input: input, pace: replayPace,
                                    eventLogPath: eventLog, socketPath: socket, keepRunning: keepRunning)
        let daemon: Daemon
        do { daemon = try Daemon(options: options, backends: .audioIO) } catch {
            if case .config(let message) = error { fail("configuration error: \(message)", code: 78) }
            fail("\(error)", code: 1)
        }
        let code = daemon.run()
        if code != 0 { throw ExitCode(code) }
    }
}

func fail(_ message: String, code: Int32) -> Never {
    var line = "babymonitord: \(message)\n"
    line.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
    exit(code)
}
