import ArgumentParser

/// `crymodel`: offline model work. Each subcommand lives in its own file.
@main
struct CryModelTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crymodel",
        abstract: "Offline work on babymonitor's cry models: features, training, evaluation, inspection, benchmarks.",
        subcommands: [
            // Add subcommands here, one line each.
            NightCommand.self,
            DetectionSetCommand.self,
        ]
    )
}
