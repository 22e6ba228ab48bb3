import ArgumentParser
import CryModel
import Foundation

/// `crymodel inspect MODEL`: what a model file holds: metadata, tensors, parameter counts.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model file's metadata, tensor shapes and parameter counts.")

    @Argument(help: "The model file (safetensors).")
    var model: String

    func run() throws {
        let file: CryModelFile
        do { file = try CryModelFile.load(path: model) } catch { throw fail(error.description, code: SysExit.dataError) }
        let c = file.configuration
        let size = (try? FileManager.default.attributesOfItem(atPath: model)[.size] as? Int) ?? nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let frontEnd = (try? String(decoding: encoder.encode(c.frontEnd), as: UTF8.self)) ?? "?"

        print("file:           \(model)" + (size.map { " (\($0) bytes)" } ?? ""))
        print("format version: \(CryModelFile.formatVersion)")
        print("task:           \(c.task.rawValue)")
        print("classes:        \(c.classes.joined(separator: ", "))")
        print("cell:           \(c.cell.rawValue)" + (c.cell == .attgate ? ", depth \(c.depth)" : ""))
        print("hidden:         \(c.hidden)")
        print("dense:          \(c.dense)")
        print("input size:     \(c.inputSize)")
        print("front end:      \(frontEnd)")
        // Keys longer than the column (validation_groups) keep their full name and one space.
        for key in file.extras.keys.sorted() {
            let label = "\(key):"
            print((label.count < 16 ? label.padding(toLength: 16, withPad: " ", startingAt: 0) : label + " ") + file.extras[key]!)
        }
        print("")
        print("tensors:")
        let layout = file.network.layout
        var group = ""
        let counts = Dictionary(layout.countsByGroup.map { ($0.group, $0.count) }, uniquingKeysWith: +)
        for t in layout.tensors {
            let g = String(t.name.prefix { $0 != "." })
            if g != group {
                group = g
                print("  \(g): \(counts[g] ?? 0) parameters")
            }
            print("    \(t.name.count < 18 ? t.name.padding(toLength: 18, withPad: " ", startingAt: 0) : t.name) \(t.shape)")
        }
        print("  norm: \(2 * c.inputSize) values (not trained)")
        print("    norm.mean          [\(c.inputSize)]")
        print("    norm.std           [\(c.inputSize)]")
        print("")
        print("parameters:     \(layout.count) trainable")
    }
}
