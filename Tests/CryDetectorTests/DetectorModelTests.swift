import CryModel
import Testing
@testable import CryDetector

@Suite struct DetectorModelTests {
    func model(task: ModelTask, classes: [String]) throws -> CryModelFile {
        let c = ModelConfiguration(task: task, classes: classes, cell: .gru, hidden: [8, 4], dense: [4])
        return CryModelFile(network: try CryNetwork<Float>.random(configuration: c, seed: 1))
    }

    @Test func aCauseModelIsRefusedAsADetector() throws {
        let cause = try model(task: .cause, classes: ["hungry", "tired"])
        #expect(throws: DetectorError.wrongTask(model: "c.safetensors", task: "cause")) {
            try CryDetector(model: cause, name: "c.safetensors")
        }
    }

    @Test func aDetectModelWithoutACryClassIsRefused() throws {
        let odd = try model(task: .detect, classes: ["speech", "other"])
        #expect(throws: DetectorError.missingCryClass(model: "d", classes: ["speech", "other"])) {
            try CryDetector(model: odd, name: "d")
        }
    }

    @Test func aDetectModelRunsOnlyWhileTheGateIsOpen() throws {
        let file = try model(task: .detect, classes: ["cry", "not_cry"])
        let detector = try CryDetector(model: file, name: "d")
        #expect(detector.mode == .learned)
        #expect(detector.configuration.frameSeconds == 0.01)
        // Quiet frames, then loud ones: stage 2 steps only on the loud ones (plus hold).
        var frame = [Float](repeating: 0, count: 32)
        for t in 0..<300 {
            frame[0] = t < 200 ? -3 : -1.5          // log10 RMS: -60 dB, then -30 dB
            frame.withUnsafeBufferPointer { detector.process($0) { _ in } }
            if t < 200 { #expect(detector.lastProbability == 0) }
        }
        #expect(detector.stage2FrameCount == 100)
        #expect(detector.lastProbability > 0 && detector.lastProbability < 1)
    }
}

@Suite struct DetectorBenchmarkTests {
    @Test func idleRunsNoStage2AndActiveRunsItOnEveryFrame() throws {
        let c = ModelConfiguration(task: .detect, classes: ["cry", "not_cry"], cell: .gru, hidden: [8, 4], dense: [4])
        let detector = try CryDetector(model: CryModelFile(network: try CryNetwork<Float>.random(configuration: c, seed: 1)), name: "d")
        let r = detector.benchmark(seconds: 10)
        #expect(r.audioSeconds == 10)
        #expect(r.idleStage2Frames == 0 && r.activeStage2Frames == 1000)
        #expect(r.idleSeconds > 0 && r.activeSeconds > 0)
        #expect(detector.frameCount == 0)
    }
}

@Suite struct DetectorMakeTests {
    @Test func withoutAModelOnlyTheExplicitBaselineIsGiven() throws {
        #expect(throws: DetectorError.noDetectorModel) { try CryDetector.make(modelPath: nil, energyOnly: false) }
        #expect(try CryDetector.make(modelPath: nil, energyOnly: true).mode == .energyOnly)
    }

    @Test func aModelFileIsLoadedAndChecked() throws {
        let path = "/tmp/crydetector-test-\(getpid()).safetensors"
        defer { unlink(path) }
        let c = ModelConfiguration(task: .detect, classes: ["cry", "not_cry"], cell: .lstm, hidden: [4, 4], dense: [4])
        try CryModelFile(network: try CryNetwork<Float>.random(configuration: c, seed: 2)).write(to: path)
        let d = try CryDetector.make(modelPath: path, energyOnly: false)
        #expect(d.mode == .learned)
        let cause = ModelConfiguration(task: .cause, classes: ["hungry", "tired"], cell: .lstm, hidden: [4, 4], dense: [4])
        try CryModelFile(network: try CryNetwork<Float>.random(configuration: cause, seed: 2)).write(to: path)
        #expect(throws: DetectorError.wrongTask(model: path, task: "cause")) { try CryDetector.make(modelPath: path, energyOnly: false) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
