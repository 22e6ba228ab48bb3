import Foundation
import Testing
@testable import MonitorDaemon

/// Inputs found by fuzz-config (Fuzz/, scripts/fuzz), kept so the bugs stay fixed.
@Suite struct FuzzRegressionTests {
    /// A table header whose first character cannot start a key (`[=x]`, `[[=x]]`, `[ =x]`, `[`
    /// at the end of a line) trips an assert() in toml++ 3.4.0 (TOMLKit 0.6's CTOML, toml.hpp
    /// parse_key), and so does an array whose next value starts with "}" (`x = [ }`, parse_value);
    /// the process aborted. The config is now read by babymonitor's own strict parser
    /// (TOMLSubset.swift); these stay as regression inputs. Runs in a child process (exit
    /// test) so that a regression is a failed test, not a crashed test run.
    static let tomlAssertInputs = ["[=x]\n", "[[=x]]\n", "[ =audio]\npcm = \"default\"\n", "[audio]\npcm = \"x\"\n[\t%log]\n", "[\nperiod_ms = 10\n",
                                     "\u{FEFF}[#\n", "[log]\nevent_log = [ }\n", "[control]\ngroup = [1, }\n"]

    @Test("TOML that trips a toml++ assert is a ConfigError, not an abort")
    func tomlAssertInputsAreConfigErrors() async {
        await #expect(processExitsWith: .success) {
            for text in FuzzRegressionTests.tomlAssertInputs {
                do {
                    _ = try DaemonConfig.parse(text, path: "/etc/babymonitor/fuzz.toml")
                    exit(EXIT_FAILURE)  // must be refused
                } catch {
                    if !"\(error)".contains("fuzz.toml") { exit(EXIT_FAILURE) }
                }
            }
        }
    }

    @Test func blankTableHeaderIsAlreadyAConfigError() {
        #expect(throws: ConfigError.self) { _ = try DaemonConfig.parse("[]\n", path: "/etc/babymonitor/fuzz.toml") }
    }
}
