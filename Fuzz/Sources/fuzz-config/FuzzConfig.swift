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
