import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

extension ParsableCommand {
    /// `main()` with the project's exit codes (interfaces.md): a usage error exits 2, where
    /// ArgumentParser would exit 64 (EX_USAGE); everything else exits as ArgumentParser says.
    public static func mainWithProjectExitCodes() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error).rawValue == 64 {
                var line = fullMessage(for: error) + "\n"
                line.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}
