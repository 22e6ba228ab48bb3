import ArgumentParser
import CryModel

/// `crymodel inspect MODEL`: what a model file holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show a model file's metadata, tensors and parameter counts.")
    @Argument(help: "The model file (.safetensors).") var model: String
    func run() throws { throw fail("inspect: not implemented yet", code: SysExit.failure) }
}
