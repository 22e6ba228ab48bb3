#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A fresh directory under /tmp for one test.
func makeTempDirectory(_ name: String = "bm") -> String {
    var template = Array("/tmp/\(name)-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return String(cString: p!)
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func readFile(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return String(decoding: data, as: UTF8.self)
}

/// Polls `condition` every 10 ms until it holds or `seconds` passed (a bound for a
/// condition that must come true, not a timing assertion).
func waitUntil(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
