import ArgumentParser
import CommandLineSupport

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
            CalibrateCommand.self,
            NightCommand.self,
            DetectionSetCommand.self,
            DetectCommand.self,
            AdaptCommand.self,
            RehearsalSampleCommand.self,
        ]
    )

    /// Usage errors exit 2 (interfaces.md), not ArgumentParser's 64.
    static func main() { mainWithProjectExitCodes() }
}
