// The model file (model-spec section 5): safetensors, so any safetensors reader opens it.
//   bytes 0..<8      header length N, little-endian UInt64
//   bytes 8..<8+N    JSON header: {"__metadata__": {string: string}, name: {"dtype": "F32",
//                    "shape": [...], "data_offsets": [begin, end]}, ...}, space-padded so
//                    that the data section starts 8-byte aligned
//   bytes 8+N...     the tensors, little-endian F32, back to back in layout order, then
//                    norm.mean and norm.std; offsets are relative to the data section
// FoundationEssentials where the toolchain has it: no ICU in babymonitord (issue 15).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Features
import FileSafety

/// A model file that cannot be used, naming the file and the problem.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var problem: String
    public init(path: String, problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
}

extension CryModelFile {
    /// The format version this build writes and reads.
    public static let formatVersion = "1"

    /// Metadata keys the format itself uses; anything else is kept in `extras`.
    public static let reservedMetadataKeys: Set<String> = [
        "format", "format_version", "task", "classes", "cell", "depth", "hidden", "dense", "input_size", "front_end",
    ]

    static let maxHeaderLength = 16 << 20

    /// Names and shapes of the normalisation tensors.
    static func normalisationSpecs(_ inputSize: Int) -> [(String, [Int])] {
        [("norm.mean", [inputSize]), ("norm.std", [inputSize])]
    }

    // MARK: Writing

    /// The file's bytes.
    public func serialized() throws -> [UInt8] {
        let c = configuration
        guard featureMean.count == c.inputSize, featureStd.count == c.inputSize else {
            throw ConfigurationError("normalisation has \(featureMean.count) means and \(featureStd.count) deviations for \(c.inputSize) features")
        }
        var metadata = extras.filter { !Self.reservedMetadataKeys.contains($0.key) }
        metadata["format"] = "babymonitor-cry-model"
        metadata["format_version"] = Self.formatVersion
        metadata["task"] = c.task.rawValue
        metadata["classes"] = Self.jsonString(c.classes)
        metadata["cell"] = c.cell.rawValue
        metadata["depth"] = String(c.depth)
        metadata["hidden"] = Self.jsonString(c.hidden)
        metadata["dense"] = Self.jsonString(c.dense)
        metadata["input_size"] = String(c.inputSize)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        metadata["front_end"] = String(decoding: try encoder.encode(c.frontEnd), as: UTF8.self)

        var header: [String: HeaderJSON] = ["__metadata__": .object(metadata.mapValues { .string($0) })]
        var tensors: [(String, [Int], ArraySlice<Float>)] = network.layout.tensors.map {
            ($0.name, $0.shape, network.parameters[$0.offset..<($0.offset + $0.count)])
        }
        tensors.append(("norm.mean", [c.inputSize], featureMean[...]))
        tensors.append(("norm.std", [c.inputSize], featureStd[...]))
        var offset = 0
        for (name, shape, values) in tensors {
            header[name] = .object(["dtype": .string("F32"), "shape": .array(shape.map { .int($0) }),
                                    "data_offsets": .array([.int(offset), .int(offset + 4 * values.count)])])
            offset += 4 * values.count
        }
        var json = Array(try encoder.encode(header))
        while json.count % 8 != 0 { json.append(0x20) }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: json)
        for (_, _, values) in tensors {
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        return bytes
    }

    /// Writes atomically: a temporary file in the same directory, then rename(2).
    public func write(to path: String) throws {
        let bytes: [UInt8]
        do { bytes = try serialized() } catch {
            throw ModelFileError(path: path, problem: "cannot encode model: \(error)")
        }
        let temporary = path + ".tmp-\(getpid())"
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw ModelFileError(path: path, problem: "cannot write \(temporary): \(error)")
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw ModelFileError(path: path, problem: "cannot rename \(temporary) into place: \(reason)")
        }
    }

    static func jsonString<T: Encodable>(_ value: T) -> String {
        (try? String(decoding: JSONEncoder().encode(value), as: UTF8.self)) ?? "null"
    }

    // MARK: Reading

    /// Loads and checks a model file; every problem is a `ModelFileError` naming it.
    /// Checks come before reads: only regular files (a FIFO or /dev/zero is refused, never
    /// read), at most `maxFileBytes`, and the header (length and JSON) is read and checked
    /// before the tensors are.
    public static func load(path: String) throws(ModelFileError) -> CryModelFile {
        func refuse(_ problem: String) -> ModelFileError { ModelFileError(path: path, problem: problem) }
        let fd: Int32, size: Int
        do { (fd, size) = try SafeFile.openRegularForReading(path, maxBytes: maxFileBytes, what: "model file") } catch {
            throw refuse(error.code == ENOENT ? "no such file" : error.problem)
        }
        defer { _ = close(fd) }
        func read(_ offset: Int, _ count: Int) throws(ModelFileError) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            let failure = bytes.withUnsafeMutableBytes { SafeFile.readExactly(fd, offset: offset, into: $0) }
            if let failure {
                throw refuse(failure == 0 ? "file shrank while being read" : "read failed: \(SafeFile.errnoText(failure))")
            }
            return bytes
        }
        guard size >= 8 else { return try parse(try read(0, size), path: path) }   // parse names the problem
        let lengthBytes = try read(0, 8)
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(lengthBytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(size - 8) else {
            throw refuse("header length \(headerLength) is larger than the file (\(size) bytes): truncated or not a model file")
        }
        guard headerLength <= UInt64(maxHeaderLength) else {
            throw refuse("header length \(headerLength) exceeds the limit of \(maxHeaderLength) bytes")
        }
        let header = try read(8, Int(headerLength))
        guard (try? JSONDecoder().decode(HeaderJSON.self, from: Data(header))) != nil else {
            throw refuse("header is not valid JSON")
        }
        return try parse(try read(0, size), path: path)
    }

    /// Model files larger than this are refused before they are read: the paper-size
    /// attention-gate model is about 10 MB.
    public static let maxFileBytes = 256 << 20

    /// Parses a model file's bytes; `path` is only used in messages.
    public static func parse(_ bytes: [UInt8], path: String) throws(ModelFileError) -> CryModelFile {
        func refuse(_ problem: String) -> ModelFileError { ModelFileError(path: path, problem: problem) }

        guard bytes.count >= 8 else {
            throw refuse("truncated: \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw refuse("header length \(headerLength) is larger than the file (\(bytes.count) bytes): truncated or not a model file")
        }
        guard headerLength <= UInt64(maxHeaderLength) else {
            throw refuse("header length \(headerLength) exceeds the limit of \(maxHeaderLength) bytes")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart
        let object: HeaderJSON
        do {
            object = try JSONDecoder().decode(HeaderJSON.self, from: Data(bytes[8..<dataStart]))
        } catch {
            throw refuse("header is not valid JSON")
        }
        guard case .object(let header) = object else { throw refuse("header is not a JSON object") }
        guard case .object(let rawMetadata)? = header["__metadata__"] else {
            throw refuse("header has no __metadata__ object")
        }
        var metadata: [String: String] = [:]
        for (key, value) in rawMetadata {
            guard case .string(let s) = value else { throw refuse("metadata \(key) is not a string") }
            metadata[key] = s
        }

        // Metadata -> configuration.
        func field(_ key: String) throws(ModelFileError) -> String {
            guard let v = metadata[key] else { throw refuse("metadata has no \(key)") }
            return v
        }
        func integer(_ key: String) throws(ModelFileError) -> Int {
            let s = try field(key)
            guard let v = Int(s) else { throw refuse("metadata \(key) \"\(s)\" is not an integer") }
            return v
        }
        func decode<T: Decodable>(_ key: String, as type: T.Type, what: String) throws(ModelFileError) -> T {
            let s = try field(key)
            guard let v = try? JSONDecoder().decode(T.self, from: Data(s.utf8)) else {
                throw refuse("metadata \(key) \"\(s.prefix(200))\" is not \(what)")
            }
            return v
        }
        let version = try field("format_version")
        guard version == formatVersion else {
            throw refuse("unknown format version \"\(version)\" (this build reads version \(formatVersion))")
        }
        let taskName = try field("task")
        guard let task = ModelTask(rawValue: taskName) else {
            throw refuse("unknown task \"\(taskName)\" (expected \(ModelTask.allCases.map(\.rawValue).joined(separator: " or ")))")
        }
        let cellName = try field("cell")
        guard let cell = CellKind(rawValue: cellName) else {
            throw refuse("unknown cell \"\(cellName)\" (expected \(CellKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let classes = try decode("classes", as: [String].self, what: "a JSON array of strings")
        let hidden = try decode("hidden", as: [Int].self, what: "a JSON array of integers")
        let dense = try decode("dense", as: [Int].self, what: "a JSON array of integers")
        let frontEnd = try decode("front_end", as: FrontEndConfig.self, what: "a front-end configuration")
        // Before anything derives sizes from it (featureCount = 2 (4 + mfccCount) would
        // overflow on a corrupt mfccCount, and a 0 Hz rate would divide by zero later).
        do { try frontEnd.validate() } catch { throw refuse("front_end: \(error)") }
        let configuration = ModelConfiguration(
            task: task, classes: classes, cell: cell, depth: try integer("depth"),
            hidden: hidden, dense: dense, inputSize: try integer("input_size"), frontEnd: frontEnd)
        do { try configuration.validate() } catch { throw refuse("inconsistent configuration: \(error)") }
        guard configuration.inputSize == frontEnd.featureCount else {
            throw refuse("input size \(configuration.inputSize) does not match the front end's \(frontEnd.featureCount) features")
        }

        // Tensors: exactly the expected set, each F32 with the expected shape, in range,
        // not overlapping, covering the data section with no gap.
        let layout = ParameterLayout(configuration: configuration)
        let expected = layout.tensors.map { ($0.name, $0.shape) } + normalisationSpecs(configuration.inputSize)
        let expectedNames = Set(expected.map(\.0))
        for name in header.keys.sorted() where name != "__metadata__" && !expectedNames.contains(name) {
            throw refuse("unexpected tensor \(name) for a \(cell.rawValue) model of this shape")
        }
        var ranges: [(name: String, begin: Int, end: Int)] = []
        for (name, shape) in expected {
            guard let entry = header[name] else { throw refuse("missing tensor \(name)") }
            guard case .object(let info) = entry else { throw refuse("tensor \(name) entry is not a JSON object") }
            guard case .string(let dtype)? = info["dtype"] else { throw refuse("tensor \(name) has no dtype") }
            guard dtype == "F32" else { throw refuse("tensor \(name) has dtype \(dtype), expected F32") }
            guard let fileShape = info["shape"]?.integers else {
                throw refuse("tensor \(name) has no valid shape")
            }
            guard fileShape == shape else {
                throw refuse("tensor \(name) has shape \(fileShape), expected \(shape)")
            }
            guard let offsets = info["data_offsets"]?.integers, offsets.count == 2 else {
                throw refuse("tensor \(name) has no valid data_offsets")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw refuse("tensor \(name) data_offsets [\(begin), \(end)] out of range (data section is \(dataSize) bytes)")
            }
            let count = shape.reduce(1, *)
            guard end - begin == 4 * count else {
                throw refuse("tensor \(name) data_offsets [\(begin), \(end)] hold \(end - begin) bytes, shape \(shape) needs \(4 * count)")
            }
            ranges.append((name, begin, end))
        }
        let sorted = ranges.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        for (i, r) in sorted.enumerated() {
            if r.begin < covered, i > 0 {
                throw refuse("tensors \(sorted[i - 1].name) and \(r.name) overlap")
            }
            if r.begin > covered { throw refuse("gap of \(r.begin - covered) bytes in the data section before tensor \(r.name)") }
            covered = r.end
        }
        if covered != dataSize {
            throw refuse("\(dataSize - covered) unindexed bytes after the last tensor (data section is \(dataSize) bytes)")
        }

        func floats(_ r: (name: String, begin: Int, end: Int)) throws(ModelFileError) -> [Float] {
            let count = (r.end - r.begin) / 4
            var out = [Float](repeating: 0, count: count)
            var bad: Int?
            bytes.withUnsafeBytes { raw in
                let base = raw.baseAddress! + dataStart + r.begin
                for i in 0..<count {
                    let v = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    if !v.isFinite, bad == nil { bad = i }
                    out[i] = v
                }
            }
            if let bad { throw refuse("tensor \(r.name) element \(bad) is \(out[bad]), not a finite number") }
            return out
        }
        var parameters = [Float](repeating: 0, count: layout.count)
        for (spec, r) in zip(layout.tensors, ranges) {
            let values = try floats(r)
            parameters.replaceSubrange(spec.offset..<(spec.offset + spec.count), with: values)
        }
        let mean = try floats(ranges[ranges.count - 2])
        let std = try floats(ranges[ranges.count - 1])
        if let i = std.firstIndex(where: { !($0 > 0) }) {
            throw refuse("norm.std element \(i) is \(std[i]), must be positive")
        }
        let network: CryNetwork<Float>
        do { network = try CryNetwork(configuration: configuration, parameters: parameters) } catch {
            throw refuse("inconsistent configuration: \(error)")
        }
        let extras = metadata.filter { !reservedMetadataKeys.contains($0.key) }
        // Optional (files written before it have none: uncalibrated); a present one must parse.
        if let text = extras[ProbabilityCalibration.metadataKey] {
            do { _ = try ProbabilityCalibration(metadataJSON: text, classCount: configuration.classes.count) } catch {
                throw refuse("metadata \(ProbabilityCalibration.metadataKey): \(error)")
            }
        }
        return CryModelFile(network: network, featureMean: mean, featureStd: std, extras: extras)
    }
}

/// Any JSON value: the model header read with JSONDecoder (FoundationEssentials has no
/// JSONSerialization) so that each malformed field still gets its own message.
enum HeaderJSON: Codable, Equatable {
    case object([String: HeaderJSON]), array([HeaderJSON]), string(String), int(Int), number(Double), bool(Bool), null

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([HeaderJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: HeaderJSON].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .object(let o): try c.encode(o)
        case .array(let a): try c.encode(a)
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        }
    }

    /// An array of integers (a shape, data offsets); nil for anything else.
    var integers: [Int]? {
        guard case .array(let a) = self else { return nil }
        var out: [Int] = []
        for v in a {
            guard case .int(let i) = v else { return nil }
            out.append(i)
        }
        return out
    }
}
