import Testing
import Foundation
@testable import MonitorDaemon
import ThreadSupport

/// A capture device following a script: opens fail `failOpens` times, then reads deliver
/// counter samples and the device is lost after `readsBeforeLoss` reads.
final class ScriptedDevices: @unchecked Sendable {
    struct Script { var failOpens: Int; var readsBeforeLoss: Int? }
    let scripts: Locked<[Script]>
    let opens = Locked(0)
    let next = Locked<Float>(0)

    init(_ scripts: [Script]) { self.scripts = Locked(scripts) }

    struct OpenError: Error, CustomStringConvertible { var description: String { "no such device" } }
    struct LostError: Error, CustomStringConvertible { var description: String { "device unplugged" } }

    func open() throws -> CaptureDevice {
        opens.withLock { $0 += 1 }
        let fail = scripts.withLock { s -> Script? in
            guard !s.isEmpty else { return nil }
            if s[0].failOpens > 0 { s[0].failOpens -= 1; return nil }
            return s.removeFirst()
        }
        guard let script = fail else { throw OpenError() }
        return Device(owner: self, readsLeft: script.readsBeforeLoss)
    }

    final class Device: CaptureDevice {
        let owner: ScriptedDevices
        var readsLeft: Int?
        init(owner: ScriptedDevices, readsLeft: Int?) { self.owner = owner; self.readsLeft = readsLeft }
        func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int {
            if let r = readsLeft {
                if r == 0 { throw LostError() }
                readsLeft = r - 1
            } else {
                usleep(1000)
            }
            owner.next.withLock { v in
                for i in 0..<buffer.count { buffer[i] = v; v += 1 }
            }
            return buffer.count
        }
        var xruns: Int { 2 }
        func close() {}
    }
}

@Suite struct CaptureLoopTests {
    @Test func deviceLostThenBackWithEventsAndNoDuplicates() throws {
        let ring = RingBuffer<Float>(minimumCapacity: 1 << 16)
        let state = try CaptureState()
        let loop = CaptureLoop(ring: ring, state: state, dataReady: try Wakeup(), sampleRate: 8000, blockSize: 160)
        // Absent twice, then works for 5 reads and is lost, absent once, then works forever.
        let devices = ScriptedDevices([.init(failOpens: 2, readsBeforeLoss: 5), .init(failOpens: 1, readsBeforeLoss: nil)])
        let events = Locked<[CaptureLoop.DeviceEvent]>([])
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            loop.runLive(device: "test", open: { try devices.open() }, publish: { e in events.withLock { $0.append(e) } },
                         initialBackoffSeconds: 0.01, maxBackoffSeconds: 0.02)
            done.signal()
        }
        t.start()
        #expect(waitUntil { ring.totalWritten > 20 * 160 })
        let missing = state.deviceMissing.load(ordering: .relaxed)
        #expect(!missing)
        state.stopRequested.store(true, ordering: .releasing)
        state.stopWakeup.signal()
        done.wait()
        #expect(events.withLock { $0 } == [.lost(error: "no such device"), .ok, .lost(error: "device unplugged"), .ok])
        #expect(devices.opens.withLock { $0 } == 5)
        let xruns = state.xruns.load(ordering: .relaxed)
        #expect(xruns == 4)   // 2 per device opened
        var out = [Float](repeating: 0, count: ring.fillLevel)
        let n = out.withUnsafeMutableBufferPointer { ring.pop(into: $0) }
        #expect(out[0..<n].enumerated().allSatisfy { Float($0.offset) == $0.element })
    }

    @Test func fastReplayWaitsForSpaceInsteadOfDropping() throws {
        final class Counter: ReplaySource {
            var next = 0
            let total: Int
            init(total: Int) { self.total = total }
            func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int {
                let n = min(buffer.count, total - next)
                for i in 0..<n { buffer[i] = Float(next + i) }
                next += n
                return n
            }
        }
        let ring = RingBuffer<Float>(minimumCapacity: 256)
        let state = try CaptureState()
        let loop = CaptureLoop(ring: ring, state: state, dataReady: try Wakeup(), sampleRate: 8000, blockSize: 100)
        let total = 20_000
        let source = UncheckedBox(Counter(total: total))
        let t = Thread { try? loop.runReplay(source.value, pace: .fast) }
        t.start()
        var got = 0
        var ordered = true
        var out = [Float](repeating: 0, count: 64)
        while !(state.inputFinished.load(ordering: .acquiring) && ring.fillLevel == 0) {
            let n = out.withUnsafeMutableBufferPointer { ring.pop(into: $0) }
            for i in 0..<n where out[i] != Float(got + i) { ordered = false }
            got += n
            if n == 0 { usleep(100) }
        }
        #expect(got == total && ordered)
        #expect(ring.droppedSamples == 0)
    }
}
