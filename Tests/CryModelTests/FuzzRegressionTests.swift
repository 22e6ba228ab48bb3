import Foundation
import Testing
@testable import CryModel

/// Inputs found by the fuzzing work (Fuzz/, scripts/fuzz), kept so the bugs stay fixed.
@Suite struct FuzzRegressionTests {
    /// A valid small model file whose `front_end` metadata has had `field` set to `value`.
    static func model(frontEnd field: String, _ value: String) throws -> [UInt8] {
        let configuration = ModelConfiguration(classes: ["a", "b"], cell: .lstm, hidden: [2], dense: [])
        let bytes = try CryModelFile(network: CryNetwork<Float>.random(configuration: configuration, seed: 1)).serialized()
        var length = 0
        for i in 0..<8 { length |= Int(bytes[i]) << (8 * i) }
        let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
        // front_end is JSON inside a JSON string: its quotes are escaped.
        let pattern = try Regex("\\\\\"\(field)\\\\\":[-0-9.e]+")
        precondition(header.contains(pattern), "no \(field) in the front_end metadata")
        let edited = header.replacing(pattern, with: "\\\"\(field)\\\":\(value)", maxReplacements: 1)
        let newHeader = Array(edited.utf8)
        var out: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: newHeader.count >> (8 * $0)) }
        out += newHeader
        out += bytes[(8 + length)...]
        return out
    }

    @Test func editedModelStillLoads() throws {
        let model = try CryModelFile.parse(Self.model(frontEnd: "preEmphasis", "0.5"), path: "edited.safetensors")
        #expect(model.configuration.frontEnd.preEmphasis == 0.5)
    }

    /// front_end.mfccCount = Int.max: `FrontEndConfig.lldCount` (4 + mfccCount) overflows and
    /// traps inside `CryModelFile.parse`. A corrupt model file must be a `ModelFileError`.
    /// Runs in a child process (exit test) so that a regression is a failed test, not a
    /// crashed test run.
    @Test func hugeMFCCCountIsRefusedNotATrap() async {
        await #expect(processExitsWith: .success) {
            let bytes = try FuzzRegressionTests.model(frontEnd: "mfccCount", "9223372036854775807")
            do {
                _ = try CryModelFile.parse(bytes, path: "huge.safetensors")
                exit(EXIT_FAILURE)
            } catch {
                if !"\(error)".contains("huge.safetensors") || !"\(error)".contains("mfccCount") { exit(EXIT_FAILURE) }
            }
        }
    }

    /// A front end that FrontEndConfig.validate() rejects (sample rate 0 Hz) loads without
    /// complaint; a FeatureExtractor made from it would divide by zero.
    @Test func invalidFrontEndIsRefused() throws {
        let bytes = try Self.model(frontEnd: "sampleRate", "0")
        let error = #expect(throws: ModelFileError.self) { _ = try CryModelFile.parse(bytes, path: "rate0.safetensors") }
        #expect(error?.description.contains("sampleRate") == true)
    }
}
