import ArgumentParser
import CryAdaptation
import CryModel
import Foundation

/// `crymodel rehearsal-sample`: the compact sample of the shipped training material that
/// `crymodel adapt` rehearses (config/models/rehearsal.safetensors).
struct RehearsalSampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rehearsal-sample",
        abstract: "Write the rehearsal sample: fixed-length feature crops of the shipped models' training recordings.",
        discussion: """
            Detector crops: --per-class crops of class cry from the --cries folders and of class \
            other from the --others folders (the recordings the shipped detector was trained on). \
            Cause crops: --cause-per-class crops per cause from --cause-data/<cause>/. Features \
            are those of --model's front end, stored as float16; each crop is the loudest of four \
            random windows of a random recording. Deterministic for a seed.
            """)

    @Option(help: "A model whose front end to use (the shipped detector).") var model: String
    @Option(help: "Folders of cry recordings (repeat).") var cries: [String] = []
    @Option(help: "Folders of other sounds (repeat).") var others: [String] = []
    @Option(name: .customLong("cause-data"), help: "Folder with one sub-folder per cause.") var causeData: String?
    @Option(name: .customLong("per-class"), help: "Detector crops per class.") var perClass = 100
    @Option(name: .customLong("cause-per-class"), help: "Cause crops per cause.") var causePerClass = 24
    @Option(help: "Frames per crop (10 ms each).") var frames = 150
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Output file.") var out: String

    func run() throws {
        do {
            let frontEnd = try CryModelFile.load(path: model).configuration.frontEnd
            var sets: [RehearsalSample.TaskSet] = []
            if !cries.isEmpty || !others.isEmpty {
                sets.append(try RehearsalSample.build(task: "detect", classes: [("cry", cries), ("other", others)], frontEnd: frontEnd,
                                                      perClass: perClass, frames: frames, seed: seed))
            }
            if let causeData {
                let classes = ModelConfiguration.causeClasses.map { ($0, [causeData + "/" + $0]) }
                sets.append(try RehearsalSample.build(task: "cause", classes: classes, frontEnd: frontEnd,
                                                      perClass: causePerClass, frames: frames, seed: seed &+ 1))
            }
            let command = CommandLine.arguments.joined(separator: " ")
            try RehearsalSample(sets: sets, metadata: ["command_line": command, "seed": String(seed)]).write(to: out)
            for s in sets { print("\(s.task): \(s.cropCount) crops of \(s.frames) frames (\(s.classes.joined(separator: ", ")))") }
        } catch let error as AdaptationError {
            throw fail(error.description, code: SysExit.dataError)
        } catch {
            throw fail("\(error)", code: SysExit.dataError)
        }
    }
}
