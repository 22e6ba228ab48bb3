#if canImport(Glibc)
import Glibc
#endif
import ControlProtocol

/// libFuzzer entry point: the bytes as what a client sends down the control socket. Split
/// into lines and checked as the daemon's ControlServer does (CR stripped, blank lines
/// skipped, UTF-8 required), each line goes to `ControlRequest.parse(line:)`. The same lines
/// also go through the client-side readers (`JSONValue.parse`, `MonitorEvent(json:)`,
/// `DaemonStatus(json:)`), and whatever JSON parses must survive a write/read round trip.
/// Thrown errors are expected; a trap, crash or sanitizer report is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    for var line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
        guard let text = String(validating: line, as: UTF8.self) else { continue }
        if let request = try? ControlRequest.parse(line: text) {
            // What the client sends must parse back to the same request.
            let again = try? ControlRequest.parse(line: String(request.line.dropLast()))
            precondition(again == request, "request \(request) does not round-trip through \(request.line)")
        }
        guard let value = try? JSONValue.parse(text) else { continue }
        let written = value.description
        guard let reparsed = try? JSONValue.parse(written) else {
            preconditionFailure("JSONValue wrote text its own parser refuses: \(written)")
        }
        precondition(reparsed.description == written, "JSON does not round-trip: \(written) -> \(reparsed.description)")
        _ = try? MonitorEvent(json: value)
        _ = try? DaemonStatus(json: value)
    }
    return 0
}

// MARK: - Seeds

/// With BABYMONITOR_FUZZ_SEEDS=DIR (scripts/fuzz): valid requests, and the daemon's answers
/// (which clients parse), into DIR, then exit.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    guard let directory = getenv("BABYMONITOR_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    var status = DaemonStatus()
    status.input = "wav:/tmp/night.wav"
    let need = MonitorEvent(type: "need", episode: 12, tAudio: 4315.25, fields: [
        ("label", .string("hungry")), ("confidence", .fixed(0.71, decimals: 3)),
        ("probs", .object([("hungry", .number(0.71)), ("tired", .number(0.12))])), ("final", .bool(false)),
    ])
    let seeds: [(String, String)] = [
        ("status", ControlRequest.status.line),
        ("subscribe", ControlRequest.subscribe.line),
        ("events", ControlRequest.events(limit: nil).line),
        ("events-limit", ControlRequest.events(limit: 5).line),
        ("session", "{\"cmd\":\"status\"}\r\n  \n{\"cmd\":\"events\",\"limit\":null}\n{\"cmd\":\"subscribe\"}\n"),
        ("escapes", "{\"cmd\":\"st\\u0061tus\"}\n[1,-2.5e-3,true,false,null,\"\\n\\\"\\\\\\/\\b\\f\\r\\t\\ud83d\\ude00\"]\n"),
        ("status-answer", ControlResponse.status(status)),
        ("events-answer", ControlResponse.events([need, MonitorEvent(type: "cry_start", episode: 12, tAudio: 4312.25)])),
        ("error-answer", ControlResponse.error("unknown cmd \"x\"")),
        ("event-line", "{\"v\":1,\"ts\":\"2026-11-24T21:03:12.481Z\",\"type\":\"cry_end\",\"episode\":12,\"t_audio\":4321.050,\"duration_s\":8.800}\n"),
    ]
    for (name, text) in seeds {
        guard let file = fopen(directory + "/" + name, "wb") else { fatalError("cannot create \(directory)/\(name)") }
        fputs(text, file)
        fclose(file)
    }
    exit(0)
}
