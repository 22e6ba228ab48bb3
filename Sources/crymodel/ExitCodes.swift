import ArgumentParser

/// sysexits codes used by every program (interfaces.md).
enum SysExit {
    static let failure = ExitCode(1)
    static let usage = ExitCode(2)
    static let dataError = ExitCode(65)     // EX_DATAERR: bad WAV, bad model file
    static let unavailable = ExitCode(69)   // EX_UNAVAILABLE
    static let ioError = ExitCode(74)       // EX_IOERR
    static let configError = ExitCode(78)   // EX_CONFIG
}

/// Prints `crymodel: <message>` on stderr and exits with `code`.
func fail(_ message: String, code: ExitCode) -> ExitCode {
    var stderr = StandardError()
    print("crymodel: \(message)", to: &stderr)
    return code
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleStderr.write(string)
    }
}
