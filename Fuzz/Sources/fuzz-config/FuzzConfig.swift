#if canImport(Glibc)
import Glibc
#endif
import MonitorDaemon

/// libFuzzer entry point: the bytes as the daemon's TOML configuration file. `load(path:)`
/// refuses text that is not UTF-8 before parsing, so only UTF-8 reaches the parser here.
/// A thrown `ConfigError` is the expected answer; a trap, crash or sanitizer report is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    _ = try? DaemonConfig.parse(text, path: "/etc/babymonitor/babymonitor.toml")
    return 0
}

/// With BABYMONITOR_FUZZ_SEEDS=DIR (scripts/fuzz): the shipped config/babymonitor.toml and a
/// few smaller valid variants into DIR, then exit.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    guard let directory = getenv("BABYMONITOR_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    // Fuzz/Sources/fuzz-config/FuzzConfig.swift -> <repository>/config/babymonitor.toml
    var shipped = "\(#filePath)"
    for _ in 0..<4 { shipped = String(shipped[..<(shipped.lastIndex(of: "/") ?? shipped.startIndex)]) }
    shipped += "/config/babymonitor.toml"
    var seeds: [(String, String)] = [
        ("empty.toml", ""),
        ("audio.toml", "[audio]\npcm = \"plughw:1,0\"\nsample_rate = 16000\nperiod_ms = 10\nring_seconds = 2.5\n"),
        ("models.toml", "[models]\ncause = \"/usr/share/babymonitor/cause.safetensors\"\ndetector = \"d.safetensors\"\n"),
        ("detector.toml", "[detector]\non_threshold = 0.7\noff_threshold = 0.2\nonset_frames = 5\nenergy_only = true\n"),
        ("inline.toml", "log = { event_log = \"e.jsonl\", max_bytes = 1_000, keep = 0 }\ncontrol.socket = 's'\ncontrol.group = \"audio\"\n"),
        ("classifier.toml", "[classifier]\nfirst_decision_s = 1.5\nrestart_every_s = 4\n[control]\nrecent_events = 0\n"),
    ]
    if let file = fopen(shipped, "rb") {
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n == 0 { break }
            text += buffer[0..<n]
        }
        fclose(file)
        seeds.append(("babymonitor.toml", String(decoding: text, as: UTF8.self)))
    } else {
        fatalError("fuzz-config: cannot read the shipped configuration \(shipped)")
    }
    for (name, text) in seeds {
        guard let file = fopen(directory + "/" + name, "wb") else { fatalError("cannot create \(directory)/\(name)") }
        fputs(text, file)
        fclose(file)
    }
    exit(0)
}
