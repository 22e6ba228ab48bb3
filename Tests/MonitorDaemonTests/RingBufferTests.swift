import Testing
import Foundation
@testable import MonitorDaemon
import ThreadSupport

@Suite struct RingBufferTests {
    @Test func capacityRoundsUpToPowerOfTwo() {
        #expect(RingBuffer<Float>(minimumCapacity: 1000).capacity == 1024)
        #expect(RingBuffer<Float>(minimumCapacity: 1024).capacity == 1024)
        #expect(RingBuffer<Int16>(minimumCapacity: 1).capacity == 1)
    }

    @Test func wrapsAroundAndCountsDrops() {
        let ring = RingBuffer<Int16>(minimumCapacity: 8)
        var out = [Int16](repeating: 0, count: 8)
        let a: [Int16] = [1, 2, 3, 4, 5, 6]
        #expect(a.withUnsafeBufferPointer { ring.push($0) } == 6)
        #expect(out.withUnsafeMutableBufferPointer { ring.pop(into: UnsafeMutableBufferPointer(rebasing: $0[0..<4])) } == 4)
        #expect(Array(out[0..<4]) == [1, 2, 3, 4])
        let b: [Int16] = [7, 8, 9, 10, 11, 12, 13, 14]   // 2 left + 8 = 10 > 8: two dropped
        #expect(b.withUnsafeBufferPointer { ring.push($0) } == 6)
        #expect(ring.droppedSamples == 2)
        #expect(ring.fillLevel == 8)
        #expect(out.withUnsafeMutableBufferPointer { ring.pop(into: $0) } == 8)
        #expect(out == [5, 6, 7, 8, 9, 10, 11, 12])
        #expect(ring.fillLevel == 0)
        #expect(ring.totalRead == 12 && ring.totalWritten == 12)
    }

    /// Two real threads; the consumer keeps up (the producer only pushes what fits,
    /// retrying), so every sample of the counter sequence arrives once, in order.
    @Test func twoThreadsNoLossWhenConsumerKeepsUp() async {
        let ring = RingBuffer<Int32>(minimumCapacity: 256)
        let total = 400_000
        let producer = Thread {
            var next: Int32 = 0
            var chunk = [Int32](repeating: 0, count: 37)
            while Int(next) < total {
                let n = min(chunk.count, total - Int(next))
                for i in 0..<n { chunk[i] = next + Int32(i) }
                var sent = 0
                while sent < n {
                    sent += chunk.withUnsafeBufferPointer {
                        ring.pushAvailable(UnsafeBufferPointer(rebasing: $0[sent..<n]))
                    }
                }
                next += Int32(n)
            }
        }
        producer.start()
        var expected: Int32 = 0
        var errors = 0
        var out = [Int32](repeating: 0, count: 53)
        while Int(expected) < total {
            let n = out.withUnsafeMutableBufferPointer { ring.pop(into: $0) }
            for i in 0..<n where out[i] != expected + Int32(i) { errors += 1 }
            expected += Int32(n)
        }
        #expect(errors == 0)
        #expect(ring.droppedSamples == 0)
        #expect(ring.totalWritten == total)
    }

    /// The producer never waits: with a slow consumer, what it pushes either arrives
    /// (in order, a subsequence of the counter) or is counted as dropped, exactly.
    @Test func twoThreadsDropsCountedExactly() async {
        let ring = RingBuffer<Int32>(minimumCapacity: 64)
        let total = 200_000
        let done = ManagedFlag()
        let written = Locked(0)
        let producer = Thread {
            var chunk = [Int32](repeating: 0, count: 50)
            var next: Int32 = 0
            var w = 0
            while Int(next) < total {
                for i in 0..<chunk.count { chunk[i] = next + Int32(i) }
                w += chunk.withUnsafeBufferPointer { ring.push($0) }
                next += Int32(chunk.count)
            }
            written.withLock { $0 = w }
            done.set()
        }
        producer.start()
        var received = 0
        var last: Int32 = -1
        var outOfOrder = 0
        var out = [Int32](repeating: 0, count: 7)
        while true {
            let finished = done.isSet
            let n = out.withUnsafeMutableBufferPointer { ring.pop(into: $0) }
            for i in 0..<n {
                if out[i] <= last { outOfOrder += 1 }
                last = out[i]
            }
            received += n
            if n == 0 && finished { break }
            if received % 5 == 0 { usleep(1) }   // slow consumer
        }
        #expect(outOfOrder == 0)
        #expect(ring.droppedSamples > 0)
        #expect(received == written.withLock { $0 })
        #expect(received + ring.droppedSamples == total)
    }
}

final class ManagedFlag: @unchecked Sendable {
    private let value = Locked(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
