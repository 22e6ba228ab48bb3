import CryModel
import Testing
import Foundation
@testable import MonitorDaemon

@Suite struct DaemonConfigTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// The configuration's directory, which relative paths are taken against (what
    /// NSString.deletingLastPathComponent gave before the daemon dropped Foundation).
    @Test func directoryOfAConfigPath() {
        #expect(DaemonConfig.directory(of: "/etc/babymonitor/babymonitor.toml") == "/etc/babymonitor")
        #expect(DaemonConfig.directory(of: "babymonitor.toml") == "")
        #expect(DaemonConfig.directory(of: "/babymonitor.toml") == "/")
        #expect(DaemonConfig.directory(of: "config//babymonitor.toml") == "config")
        #expect(DaemonConfig.directory(of: "a/b/") == "a")
        #expect(DaemonConfig.directory(of: "/") == "/")
    }

    @Test func relativeModelPathsFollowTheConfigFile() throws {
        let c = try DaemonConfig.parse("[models]\ncause = \"m/c.safetensors\"\n", path: "/etc/bm/x.toml")
        #expect(c.models.cause == "/etc/bm/m/c.safetensors")
        let bare = try DaemonConfig.parse("[models]\ncause = \"m/c.safetensors\"\n", path: "x.toml")
        #expect(bare.models.cause == "./m/c.safetensors")
    }

    @Test func shippedConfigParsesWithModelsRelativeToIt() throws {
        let path = Self.packageRoot + "/config/babymonitor.toml"
        let c = try DaemonConfig.load(path: path)
        #expect(c.audio.pcm == "default" && c.audio.sampleRate == 8000 && c.audio.periodMs == 100)
        #expect(c.models.cause == Self.packageRoot + "/config/models/cause.safetensors")
        #expect(c.models.detector == Self.packageRoot + "/config/models/detector.safetensors")
        #expect(c.classifier.firstDecisionS == 3 && c.classifier.restartEveryS == 5)
        #expect(c.log.eventLog == "/var/log/babymonitor/events.jsonl" && c.log.keep == 5)
        #expect(c.control.socket == "/run/babymonitor/control.sock" && c.control.group == "")
        // The shipped values are the built-in defaults.
        var defaults = DaemonConfig()
        defaults.models = c.models
        defaults.sourcePath = c.sourcePath
        #expect(c == defaults)
    }

    @Test func emptyFileGivesDefaults() throws {
        let c = try DaemonConfig.parse("", path: "/etc/b.toml")
        #expect(c.audio == DaemonConfig.Audio() && c.models.cause == nil)
    }

    @Test(arguments: [
        ("[audio]\nsample_rat = 8000\n", "audio.sample_rat", "unknown key"),
        ("[audoi]\npcm = \"x\"\n", "audoi", "unknown section"),
        ("[audio]\nsample_rate = \"8000\"\n", "audio.sample_rate", "expected an integer, got string"),
        ("[audio]\nsample_rate = 0\n", "audio.sample_rate", "out of range"),
        ("[detector]\non_threshold = 1.5\n", "detector.on_threshold", "out of range"),
        ("[log]\nkeep = 2.5\n", "log.keep", "expected an integer"),
        ("[detector]\non_threshold = 0.5\noff_threshold = 0.6\n", "detector.off_threshold", "must not exceed on_threshold"),
        ("[models]\ncause = \"\"\n", "models.cause", "must not be empty"),
        ("audio = 3\n", "audio", "expected a table"),
    ])
    func badValuesNameFileKeyAndProblem(text: String, key: String, problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try DaemonConfig.parse(text, path: "/etc/b.toml") }
        #expect(error.file == "/etc/b.toml")
        #expect(error.key == key)
        #expect(error.problem.contains(problem), "\(error)")
    }

    @Test func syntaxErrorNamesFileAndLine() throws {
        let error = try #require(throws: ConfigError.self) {
            try DaemonConfig.parse("[audio]\npcm = \"default\"\nsample_rate = = 3\n", path: "/etc/b.toml")
        }
        #expect(error.line == 3 && error.column == 15, "\(error)")
        #expect(error.description.hasPrefix("/etc/b.toml:3:15: expected a value for sample_rate"), "\(error)")
    }

    @Test func missingFileIsAConfigError() throws {
        let error = try #require(throws: ConfigError.self) { try DaemonConfig.load(path: "/nonexistent/b.toml") }
        #expect(error.description == "/nonexistent/b.toml: configuration file does not exist")
    }

    @Test func integersAcceptedForNumbers() throws {
        let c = try DaemonConfig.parse("[detector]\nhangover_s = 2\n[log]\nevent_log = \"ev.jsonl\"\n", path: "/etc/bm/b.toml")
        #expect(c.detector.hangoverS == 2.0)
        #expect(c.log.eventLog == "/etc/bm/ev.jsonl")
    }

    // MARK: the TOML subset parser (TOMLSubset.swift), which replaced TOMLKit

    static func configError(_ text: String, path: String = "/etc/b.toml") throws -> ConfigError {
        try #require(throws: ConfigError.self) { try DaemonConfig.parse(text, path: path) }
    }

    /// Inputs that made toml++ (TOMLKit 0.6) assert and abort the process (fuzz branch,
    /// FuzzRegressionTests): now each is a ConfigError naming the file, line and column.
    @Test(arguments: ["[=x]\n", "[[=x]]\n", "[ =audio]\npcm = \"default\"\n", "[audio]\npcm = \"x\"\n[\t%log]\n",
                      "[\nperiod_ms = 10\n", "\u{FEFF}[#\n", "[log]\nevent_log = [ }\n", "[control]\ngroup = [1, }\n"])
    func tomlPlusPlusAssertInputsAreConfigErrors(text: String) throws {
        let error = try Self.configError(text, path: "/etc/babymonitor/fuzz.toml")
        #expect(error.file == "/etc/babymonitor/fuzz.toml" && error.line != nil && error.column != nil)
        #expect(error.description.hasPrefix("/etc/babymonitor/fuzz.toml:"), "\(error)")
    }

    @Test func basicStringEscapesAndLiteralStrings() throws {
        let doc = try TOMLSubsetDocument.parse(#"""
            [s]
            a = "q\"b\\s\nn\tt\u00e9\U0001F600 \b\f\r" # trailing comment
            b = 'C:\no\escapes "here"'
            c = ""
            d = "tab	there, ünïcödé"
            """#)
        let s = try #require(doc.section("s"))
        #expect(s["a"] == .string("q\"b\\s\nn\tt\u{e9}\u{1F600} \u{8}\u{C}\r"))
        #expect(s["b"] == .string(#"C:\no\escapes "here""#))
        #expect(s["c"] == .string(""))
        #expect(s["d"] == .string("tab\tthere, ünïcödé"))
    }

    @Test(arguments: [
        (#"[control]"# + "\n" + #"group = "a\x""#, "invalid escape"),
        (#"[control]"# + "\n" + #"group = "\u12""#, "4 hexadecimal digits"),
        (#"[control]"# + "\n" + #"group = "\uD800""#, "not a Unicode scalar"),
        (#"[control]"# + "\n" + #"group = "\U00110000""#, "not a Unicode scalar"),
        ("[control]\ngroup = \"a\u{1}b\"", "control character"),
        ("[control]\ngroup = 'a\u{7F}'", "control character"),
        ("[control]\ngroup = \"open\n", "unterminated string"),
        ("[control]\ngroup = 'open", "unterminated string"),
        ("[control]\ngroup = default\n", "expected a value for group"),
        ("[control]\ngroup =\n", "expected a value for group"),
        ("[control]\ngroup = \"a\" \"b\"\n", "expected the end of the line"),
        ("[audio] pcm = \"x\"\n", "expected the end of the line after the section header"),
        ("[audio\n", "expected ']'"),
        ("pcm \"x\"\n", "expected '='"),
        ("= 3\n", "expected a key"),
        ("[audio]\r\npcm = \"x\"\rsample_rate = 1\n", "expected the end of the line"),
        ("# a \u{0} in a comment\n", "control character"),
    ])
    func malformedStringsAndLinesAreSyntaxErrors(text: String, problem: String) throws {
        let error = try Self.configError(text)
        #expect(error.file == "/etc/b.toml" && error.line != nil)
        #expect(error.problem.contains(problem), "\(error)")
    }

    @Test func integersFloatsAndBooleans() throws {
        let doc = try TOMLSubsetDocument.parse("""
            [n]
            a = +1_000
            b = -0
            c = 9223372036854775807
            d = -9223372036854775808
            e = 1.5e-3
            f = -2E+2
            g = 3_0.2_5
            h = true
            i = false # comment
            j = -inf
            k = nan
            """)
        let n = try #require(doc.section("n"))
        #expect(n["a"] == .integer(1000) && n["b"] == .integer(0))
        #expect(n["c"] == .integer(Int.max) && n["d"] == .integer(Int.min))
        #expect(n["e"] == .float(0.0015) && n["f"] == .float(-200) && n["g"] == .float(30.25))
        #expect(n["h"] == .boolean(true) && n["i"] == .boolean(false) && n["j"] == .float(-.infinity))
        guard case .float(let x) = n["k"] else { Issue.record("nan is a float"); return }
        #expect(x.isNaN)
        // Accepted by TOML, refused by the config's range checks.
        #expect(try Self.configError("[detector]\non_threshold = nan\n").problem.contains("out of range"))
        #expect(try Self.configError("[audio]\nring_seconds = inf\n").problem.contains("out of range"))
        #expect(try DaemonConfig.parse("[log]\nmax_bytes = 10_485_760\n", path: "/b.toml").log.maxBytes == 10_485_760)
    }

    @Test(arguments: [
        ("[log]\nkeep = 9223372036854775808\n", "integer is out of range"),
        ("[log]\nkeep = -9_223_372_036_854_775_809\n", "integer is out of range"),
        ("[log]\nkeep = 99999999999999999999999\n", "integer is out of range"),
        ("[log]\nkeep = 1e999\n", "float is out of range"),
        ("[log]\nkeep = 1__0\n", "underscore"),
        ("[log]\nkeep = _10\n", "expected a value"),
        ("[log]\nkeep = 10_\n", "underscore"),
        ("[log]\nkeep = 012\n", "leading zeros"),
        ("[log]\nkeep = 1.\n", "digits in the fraction"),
        ("[log]\nkeep = .5\n", "expected a value"),
        ("[log]\nkeep = 1e\n", "digits in the exponent"),
        ("[log]\nkeep = 1x\n", "expected a value"),
        ("[log]\nkeep = +\n", "expected a value"),
        ("[log]\nkeep = True\n", "expected a value"),
    ])
    func malformedNumbersAreSyntaxErrors(text: String, problem: String) throws {
        let error = try Self.configError(text)
        #expect(error.line == 2 && error.column == 8, "\(error)")
        #expect(error.problem.contains(problem), "\(error)")
    }

    @Test(arguments: [
        ("[audio]\nx = [1, 2]\n", "arrays are"),
        ("[audio]\nx = { a = 1 }\n", "inline tables are"),
        ("[audio]\na.b = 1\n", "dotted keys"),
        ("[audio.x]\n", "dotted section names"),
        ("[audio]\n\"pcm\" = \"x\"\n", "quoted keys"),
        ("[\"audio\"]\n", "quoted keys"),
        ("[audio]\npcm = \"\"\"x\"\"\"\n", "multi-line strings"),
        ("[audio]\npcm = '''x'''\n", "multi-line strings"),
        ("[audio]\nx = 1979-05-27\n", "dates and times"),
        ("[audio]\nx = 07:32:00\n", "dates and times"),
        ("[[audio]]\n", "arrays of tables"),
        ("[audio]\nx = 0x1F\n", "hexadecimal"),
    ])
    func validButUnsupportedTOMLSaysSo(text: String, construct: String) throws {
        let error = try Self.configError(text)
        #expect(error.problem.contains(construct) && error.problem.contains("not supported by babymonitor's config"), "\(error)")
    }

    @Test func duplicatesAreErrors() throws {
        let key = try Self.configError("[audio]\npcm = \"a\"\n\npcm = \"b\"\n")
        #expect(key.line == 4 && key.problem == "duplicate key pcm (first at line 2)", "\(key)")
        let section = try Self.configError("[audio]\n[log]\n[audio]\n")
        #expect(section.line == 3 && section.problem == "duplicate section [audio] (first at line 1)", "\(section)")
        let redefined = try Self.configError("audio = 1\n[audio]\n")
        #expect(redefined.line == 2 && redefined.problem.contains("redefines the key audio"), "\(redefined)")
        // The same key in two sections is fine.
        #expect(try TOMLSubsetDocument.parse("[a]\nx = 1\n[b]\nx = 2\n").sections.count == 2)
    }

    @Test func layoutVariantsParse() throws {
        let c = try DaemonConfig.parse("\u{FEFF}  # comment\r\n\t[audio]\t# c\r\n  pcm='hw:1'\t#c\r\nperiod_ms=10", path: "/b.toml")
        #expect(c.audio.pcm == "hw:1" && c.audio.periodMs == 10)
        #expect(try DaemonConfig.parse("# only a comment", path: "/b.toml").audio == DaemonConfig.Audio())
        let nul = try Self.configError(#"[control]"# + "\n" + #"group = "a\u0000b""#)
        #expect(nul.key == "control.group" && nul.problem.contains("NUL"), "\(nul)")
    }

    @Test func invalidUTF8IsAnErrorWithItsPosition() throws {
        let cases: [([UInt8], Int)] = [
            (Array("[audio]\npcm = \"a".utf8) + [0xC3, 0x28] + Array("\"\n".utf8), 2),  // bad continuation byte
            (Array("[audio]\n# ".utf8) + [0xED, 0xA0, 0x80] + Array("\n".utf8), 2),       // encoded surrogate
            (Array("[audio]\npcm = 'x'\n# ".utf8) + [0xC0, 0xAF], 3),                       // overlong
            (Array("[audio]\npcm = ".utf8) + [0xFF], 2),                                     // stray byte
            ([0xF4, 0x90, 0x80, 0x80], 1),                                                   // past U+10FFFF
            (Array("[audio]\npcm = \"".utf8) + [0xE2, 0x82], 2),                            // cut at the end
        ]
        for (bytes, line) in cases {
            let error = try #require(throws: ConfigError.self) { try DaemonConfig.parse(bytes: bytes, path: "/etc/b.toml") }
            #expect(error.file == "/etc/b.toml" && error.line == line, "\(error)")
        }
        // Through the file, as the daemon reads it.
        let dir = makeTempDirectory("cfg"); defer { removeTree(dir) }
        let path = dir + "/bad.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(cases[0].0))
        let error = try #require(throws: ConfigError.self) { try DaemonConfig.load(path: path) }
        #expect(error.description.hasPrefix("\(path):2:9: invalid UTF-8"), "\(error)")
    }

    /// 2000 random and mutated inputs: each parses or is a ConfigError naming the file; none traps.
    @Test func randomAndMutatedInputsNeverTrap() throws {
        let shipped = try #require(FileManager.default.contents(atPath: Self.packageRoot + "/config/babymonitor.toml"))
        let seed = [UInt8](shipped)
        let alphabet = Array("[]=\"'#.\\ \t\n\r{},+-_:eE0123456789abcxyzuU".utf8) + [0x00, 0x7F, 0xC3, 0xA9, 0xED, 0xF4, 0xFF]
        var rng = SplitMix64(seed: 0x5EED_C0F1)   // the project's PRNG: the same inputs every run
        func pick() -> UInt8 {
            rng.next() % 4 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))]
        }
        var parsed = 0
        for n in 0..<2000 {
            var bytes: [UInt8]
            if n % 2 == 0 {
                bytes = seed
                for _ in 0...Int(rng.next() % 8) {
                    let at = Int(rng.next() % UInt64(bytes.count + 1))
                    let b = pick()
                    switch rng.next() % 3 {
                    case 0 where at < bytes.count: bytes[at] = b
                    case 1 where at < bytes.count: bytes.remove(at: at)
                    default: bytes.insert(b, at: at)
                    }
                }
            } else {
                bytes = (0..<Int(rng.next() % 120)).map { _ in pick() }
            }
            do {
                _ = try DaemonConfig.parse(bytes: bytes, path: "/etc/fuzz.toml")
                parsed += 1
            } catch {
                #expect(error.file == "/etc/fuzz.toml" && error.description.hasPrefix("/etc/fuzz.toml"))
            }
        }
        #expect(parsed > 0, "some mutations (in comments, say) still parse")
    }
}
