import ArgumentParser
import CryModel
import Foundation

/// `crymodel bench`: speed of the streaming step for every cell at the default and the
/// paper's sizes (random weights, one thread), to choose sizes by measurement.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the classifier's streaming step (and the front end) on this machine.")

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "Seconds of timed steps per configuration.")
    var seconds: Double = 0.5

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
    }

    static let variants: [(name: String, cell: CellKind, depth: Int)] = [
        ("lstm", .lstm, 0), ("gru", .gru, 0), ("attgate1", .attgate, 1), ("attgate2", .attgate, 2), ("attgate3", .attgate, 3),
    ]

    func run() throws {
        var output: [String: Any] = [:]
        var lines: [String] = []
        for (key, hidden, dense) in [("step_us_per_frame", ModelConfiguration.defaultHidden, ModelConfiguration.defaultDense),
                                     ("step_us_per_frame_paper", ModelConfiguration.paperHidden, ModelConfiguration.paperDense)] {
            var table: [String: Double] = [:]
            for v in Self.variants {
                let c = ModelConfiguration(classes: ModelConfiguration.causeClasses, cell: v.cell, depth: v.depth,
                                           hidden: hidden, dense: dense)
                let r = try NetworkBenchmark.measureStep(configuration: c, seconds: seconds)
                table[v.name] = (r.microsecondsPerStep * 1000).rounded() / 1000
                lines.append(String(format: "%-8@ %@+%@  %8.3f us/step  %9d flop/step  %6.2f GFLOP/s",
                                    v.name, "\(hidden)", "\(dense)", r.microsecondsPerStep, r.flopsPerStep, r.gflops))
                if v.name == "attgate3" {
                    let suffix = key == "step_us_per_frame" ? "" : "_paper"
                    output["attgate3_flops_per_step" + suffix] = r.flopsPerStep
                    output["attgate3_gflops" + suffix] = (r.gflops * 100).rounded() / 100
                }
            }
            output[key] = table
        }
        output["threads"] = 1
        if json {
            let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            lines.forEach { print($0) }
        }
    }
}
