import Testing
import Foundation
import Features
@testable import CryModel

@Suite struct ModelFileTests {
    static func sampleModel(_ cell: CellKind = .attgate, depth: Int? = 2) throws -> CryModelFile {
        let c = smallConfiguration(cell, depth: depth, inputSize: 32, classes: 5)
        let net: CryNetwork<Float> = try randomNetwork(c, seed: 99)
        var rng = SplitMix64(seed: 4)
        return CryModelFile(network: net,
                            featureMean: (0..<32).map { _ in Float(rng.nextSymmetric(3)) },
                            featureStd: (0..<32).map { _ in Float(0.1 + rng.nextUnit()) },
                            extras: ["trained_with": "crymodel train --epochs 3", "test_groups": "[\"g1\",\"g7\"]"])
    }

    static func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crymodel-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    /// Rewrites the JSON header of a valid file, keeping its data section.
    static func rewriteHeader(_ bytes: [UInt8], _ edit: (inout [String: Any]) -> Void) throws -> [UInt8] {
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        var header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        edit(&header)
        let json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json + bytes[(8 + n)...]
    }

    static func refusal(_ bytes: [UInt8]) -> String? {
        do {
            _ = try CryModelFile.parse(bytes, path: "bad.safetensors")
            return nil
        } catch {
            #expect(error.path == "bad.safetensors")
            return error.problem
        }
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func roundTripIsBitIdentical(_ which: Int) throws {
        let (cell, depth) = allCells[which]
        let model = try Self.sampleModel(cell, depth: depth)
        let path = Self.temporaryPath("round-\(which).safetensors")
        try model.write(to: path)
        let loaded = try CryModelFile.load(path: path)
        #expect(loaded.network.parameters.map(\.bitPattern) == model.network.parameters.map(\.bitPattern))
        #expect(loaded.featureMean == model.featureMean && loaded.featureStd == model.featureStd)
        #expect(loaded.configuration == model.configuration)
        #expect(loaded.extras == model.extras)
        // Same posteriors through the streaming classifier.
        let a = StreamingClassifier(model: model), b = StreamingClassifier(model: loaded)
        for frame in randomFrames(5, 32, seed: 3).map({ $0.map(Float.init) }) {
            let pa = frame.withUnsafeBufferPointer { Array(a.step($0)) }
            let pb = frame.withUnsafeBufferPointer { Array(b.step($0)) }
            #expect(pa == pb)
        }
        // Deterministic bytes; no temporary file left behind.
        #expect(try model.serialized() == Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp-\(getpid())"))
    }

    @Test func layoutIsSafetensors() throws {
        let bytes = try Self.sampleModel().serialized()
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        #expect((8 + n) % 8 == 0, "data section 8-byte aligned")
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        let meta = try #require(header["__metadata__"] as? [String: String])
        #expect(meta["format_version"] == "1" && meta["cell"] == "attgate" && meta["depth"] == "2")
        #expect(meta["classes"] == "[\"c0\",\"c1\",\"c2\",\"c3\",\"c4\"]")
        #expect(meta["test_groups"] == "[\"g1\",\"g7\"]")
        let wc = try #require(header["layer0.W_c"] as? [String: Any])
        #expect(wc["dtype"] as? String == "F32")
        #expect(wc["shape"] as? [Int] == [6, 6 + 32])
        #expect(header["norm.std"] != nil && header["softmax.weight"] != nil && header["dense0.bias"] != nil)
    }

    @Test func missingFileIsRefused() {
        #expect(throws: ModelFileError(path: "/nonexistent/m.safetensors", problem: "no such file")) {
            try CryModelFile.load(path: "/nonexistent/m.safetensors")
        }
    }

    @Test func truncatedFilesAreRefused() throws {
        let good = try Self.sampleModel().serialized()
        #expect(Self.refusal(Array(good[0..<5]))?.contains("truncated: 5 bytes") == true)
        #expect(Self.refusal(Array(good[0..<100]))?.contains("larger than the file (100 bytes)") == true)
        let cut = Self.refusal(Array(good.dropLast(10)))
        #expect(cut?.contains("out of range") == true, "\(cut ?? "accepted")")
        let extra = Self.refusal(good + [0, 0, 0, 0])
        #expect(extra?.contains("4 unindexed bytes") == true, "\(extra ?? "accepted")")
    }

    @Test func invalidJSONIsRefused() throws {
        var bytes = try Self.sampleModel().serialized()
        bytes[8] = UInt8(ascii: "#")
        #expect(Self.refusal(bytes) == "header is not valid JSON")
    }

    @Test func missingTensorIsRefused() throws {
        let bytes = try Self.rewriteHeader(try Self.sampleModel().serialized()) { $0["layer1.V"] = nil }
        #expect(Self.refusal(bytes) == "missing tensor layer1.V")
    }

    @Test func wrongShapeIsRefused() throws {
        let bytes = try Self.rewriteHeader(try Self.sampleModel().serialized()) { h in
            var t = h["layer0.W"] as! [String: Any]
            t["shape"] = [3, 12]
            h["layer0.W"] = t
        }
        #expect(Self.refusal(bytes) == "tensor layer0.W has shape [3, 12], expected [6, 6]")
    }

    @Test func wrongDtypeIsRefused() throws {
        let bytes = try Self.rewriteHeader(try Self.sampleModel().serialized()) { h in
            var t = h["softmax.bias"] as! [String: Any]
            t["dtype"] = "F16"
            h["softmax.bias"] = t
        }
        #expect(Self.refusal(bytes) == "tensor softmax.bias has dtype F16, expected F32")
    }

    @Test func overlappingAndOutOfRangeOffsetsAreRefused() throws {
        let good = try Self.sampleModel().serialized()
        let overlap = try Self.rewriteHeader(good) { h in
            var t = h["layer0.b_c"] as! [String: Any]
            let o = t["data_offsets"] as! [Int]
            t["data_offsets"] = [o[0] - 8, o[1] - 8]
            h["layer0.b_c"] = t
        }
        let message = Self.refusal(overlap)
        #expect(message?.contains("overlap") == true, "\(message ?? "accepted")")
        let outside = try Self.rewriteHeader(good) { h in
            var t = h["norm.std"] as! [String: Any]
            let o = t["data_offsets"] as! [Int]
            t["data_offsets"] = [o[0] + 1_000_000, o[1] + 1_000_000]
            h["norm.std"] = t
        }
        #expect(Self.refusal(outside)?.hasPrefix("tensor norm.std data_offsets") == true)
        #expect(Self.refusal(outside)?.contains("out of range") == true)
    }

    @Test func unknownCellVersionAndTaskAreRefused() throws {
        let good = try Self.sampleModel().serialized()
        func withMetadata(_ key: String, _ value: String) throws -> [UInt8] {
            try Self.rewriteHeader(good) { h in
                var m = h["__metadata__"] as! [String: Any]
                m[key] = value
                h["__metadata__"] = m
            }
        }
        #expect(Self.refusal(try withMetadata("cell", "transformer")) == "unknown cell \"transformer\" (expected lstm, gru, attgate)")
        #expect(Self.refusal(try withMetadata("format_version", "2")) == "unknown format version \"2\" (this build reads version 1)")
        #expect(Self.refusal(try withMetadata("task", "sleep")) == "unknown task \"sleep\" (expected cause or detect)")
        #expect(Self.refusal(try withMetadata("hidden", "[6]"))?.hasPrefix("unexpected tensor layer1.") == true)
        #expect(Self.refusal(try withMetadata("depth", "0"))?.contains("attgate depth must be") == true)
    }

    @Test func nonFiniteWeightsAndNonPositiveStdAreRefused() throws {
        let good = try Self.sampleModel().serialized()
        var n = 0
        for i in 0..<8 { n |= Int(good[i]) << (8 * i) }
        var nan = good
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { nan.replaceSubrange((8 + n + 4)..<(8 + n + 8), with: $0) }
        #expect(Self.refusal(nan) == "tensor layer0.W_c element 1 is nan, not a finite number")
        var zeroStd = good
        let stdStart = good.count - 4 * 32
        withUnsafeBytes(of: Float(0).bitPattern.littleEndian) { zeroStd.replaceSubrange((stdStart + 12)..<(stdStart + 16), with: $0) }
        #expect(Self.refusal(zeroStd) == "norm.std element 3 is 0.0, must be positive")
    }
}

@Suite struct StreamingClassifierTests {
    @Test func normalisesFeaturesThenSteps() throws {
        let model = try ModelFileTests.sampleModel(.attgate, depth: 3)
        let classifier = StreamingClassifier(model: model)
        let net = model.network
        let state = net.makeState()
        let frames = randomFrames(6, 32, seed: 12, scale: 5).map { $0.map(Float.init) }
        for round in 0..<2 {
            for frame in frames {
                let z = (0..<32).map { (frame[$0] - model.featureMean[$0]) / model.featureStd[$0] }
                let expected = z.withUnsafeBufferPointer { Array(net.step($0.baseAddress!, state: state)) }
                let got = frame.withUnsafeBufferPointer { Array(classifier.step($0)) }
                for k in 0..<5 { #expect(abs(got[k] - expected[k]) < 1e-5, "round \(round)") }
            }
            #expect(classifier.framesSinceReset == frames.count)
            classifier.reset()
            state.reset(network: net)
            #expect(classifier.framesSinceReset == 0)
        }
        #expect(classifier.classes == model.configuration.classes)
    }
}

@Suite struct ClassifyTests {
    @Test func classifyEqualsStreaming() throws {
        let model = try ModelFileTests.sampleModel(.lstm, depth: nil)
        let frames = randomFrames(7, 32, seed: 13, scale: 4).map { $0.map(Float.init) }
        let matrix = FeatureMatrix(frameCount: 7, featureCount: 32, values: frames.flatMap { $0 })
        let trace = try #require(model.classify(matrix))
        let classifier = StreamingClassifier(model: model)
        var last: [Float] = []
        for frame in frames { last = frame.withUnsafeBufferPointer { Array(classifier.step($0)) } }
        for k in 0..<5 { #expect(abs(trace.lastPosteriors[trace.lastPosteriors.startIndex + k] - last[k]) < 1e-5) }
        #expect(model.classify(FeatureMatrix(featureCount: 32)) == nil)
    }
}
