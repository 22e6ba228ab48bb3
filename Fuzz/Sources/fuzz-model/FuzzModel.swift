#if canImport(Glibc)
import Glibc
#endif
import CryModel

/// libFuzzer entry point: the bytes as a model file (safetensors). A thrown `ModelFileError`
/// is the expected answer to garbage; a trap, crash or sanitizer report is a bug. A file the
/// loader accepts must also run: one streaming step must not trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    guard let model = try? CryModelFile.parse(bytes, path: "<fuzz>") else { return 0 }
    let classifier = StreamingClassifier(model: model)
    let frame = [Float](repeating: 0.5, count: model.network.inputSize)
    let posteriors = frame.withUnsafeBufferPointer { classifier.step($0) }
    precondition(posteriors.count == model.configuration.classes.count)
    return 0
}

// MARK: - Seeds

/// With BABYMONITOR_FUZZ_SEEDS=DIR (scripts/fuzz), writes small valid model files of every
/// cell kind through the real writer into DIR and exits.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    guard let directory = getenv("BABYMONITOR_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    let shapes: [(String, CellKind, Int?, [Int], [Int], [String])] = [
        ("attgate-1x4", .attgate, 1, [4], [], ["cry", "not_cry"]),
        ("attgate-3x3-2", .attgate, 3, [3, 2], [3], ModelConfiguration.causeClasses),
        ("lstm-2-2", .lstm, nil, [2, 2], [2], ["a", "b"]),
        ("gru-3", .gru, nil, [3], [], ["hungry", "tired", "burping"]),
    ]
    for (index, (name, cell, depth, hidden, dense, classes)) in shapes.enumerated() {
        let configuration = ModelConfiguration(task: classes.count == 2 ? .detect : .cause, classes: classes,
                                               cell: cell, depth: depth, hidden: hidden, dense: dense)
        do {
            let network = try CryNetwork<Float>.random(configuration: configuration, seed: UInt64(index + 1))
            let model = CryModelFile(network: network, extras: ["trained_with": "fuzz seed \(name)"])
            try model.write(to: directory + "/" + name + ".safetensors")
        } catch {
            fatalError("seed \(name): \(error)")
        }
    }
    exit(0)
}
