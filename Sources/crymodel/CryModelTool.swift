import ArgumentParser

/// `crymodel`: offline model work. Each subcommand lives in its own file.
@main
struct CryModelTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crymodel",
        abstract: "Offline work on babymonitor's cry models: features, training, evaluation, inspection, benchmarks.",
        subcommands: [
            // Add subcommands here, one line each.
            FeaturesCommand.self,
            InspectCommand.self,
            BenchCommand.self,
            TrainCommand.self,
            EvaluateCommand.self,
            ClassifyCommand.self,
            ExperimentCommand.self,
            NightCommand.self,
            DetectionSetCommand.self,
            DetectCommand.self,
        ]
    )

    /// ArgumentParser exits 64 on a usage error; the project's contract (interfaces.md) is 2.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code.rawValue == 64 {
                FileHandleStderr.write(fullMessage(for: error) + "\n")
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}
