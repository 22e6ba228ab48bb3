import Testing
import Foundation
import ControlProtocol
@testable import MonitorDaemon

@Suite struct ProcessingLoopTests {
    /// Samples the ring could not take are reported in an `overrun` event with exact counts.
    @Test func droppedSamplesBecomeAnOverrunEvent() throws {
        let dir = makeTempDirectory(); defer { removeTree(dir) }
        let ring = RingBuffer<Float>(minimumCapacity: 1024)
        let capture = try CaptureState()
        let publisher = EventPublisher(log: EventLog(path: dir + "/e.jsonl"))
        var config = DaemonConfig()
        config.detector.energyOnly = true   // without a detector model the pipeline refuses to start
        let pipeline = try CryPipeline(config: config)
        let loop = ProcessingLoop(ring: ring, capture: capture, dataReady: try Wakeup(), publisher: publisher, pipeline: pipeline)
        let block = [Float](repeating: 0.01, count: 1500)
        block.withUnsafeBufferPointer { _ = ring.push($0) }   // 476 dropped
        capture.xruns.wrappingIncrement(by: 3, ordering: .relaxed)
        capture.inputFinished.store(true, ordering: .releasing)
        loop.run()
        let overrun = try #require(publisher.recentEvents(limit: 10).first { $0.type == "overrun" })
        #expect(overrun["dropped_samples"]?.intValue == 476)
        #expect(overrun["xruns"]?.intValue == 3)
        #expect(overrun["total_dropped_samples"]?.intValue == 476)
        #expect(loop.samplesProcessed.load(ordering: .relaxed) == 1024)
        let logged = try (readFile(dir + "/e.jsonl") ?? "").split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(logged.contains { $0["type"]?.stringValue == "overrun" })
    }
}
