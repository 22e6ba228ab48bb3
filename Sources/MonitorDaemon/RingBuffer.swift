import Atomics

/// A lock-free single-producer / single-consumer ring of samples between the capture
/// thread and the processing thread.
///
/// `head` counts samples ever written (producer-owned), `tail` samples ever read
/// (consumer-owned); both only grow, so fill = head - tail and the slot of sample k is
/// k & (capacity - 1). The producer publishes samples with a releasing store of `head`
/// after copying them in; the consumer reads `head` with acquire before copying out, and
/// hands the space back with a releasing store of `tail`. The producer never waits: what
/// does not fit is not written and is counted in `droppedSamples` (capture must not block,
/// or ALSA overruns instead).
public final class RingBuffer<Sample: BitwiseCopyable>: @unchecked Sendable {
    // @unchecked: `storage` is shared, but each slot is written only by the producer while
    // it is free and read only by the consumer while it is filled; the atomics order them.
    public let capacity: Int
    private let mask: Int
    private let storage: UnsafeMutablePointer<Sample>
    private let head = ManagedAtomic<Int>(0)
    private let tail = ManagedAtomic<Int>(0)
    private let dropped = ManagedAtomic<Int>(0)

    /// `minimumCapacity` is rounded up to a power of two.
    public init(minimumCapacity: Int) {
        precondition(minimumCapacity > 0, "RingBuffer capacity must be positive")
        var c = 1
        while c < minimumCapacity { c <<= 1 }
        capacity = c
        mask = c - 1
        storage = .allocate(capacity: c)
    }

    deinit { storage.deallocate() }

    /// Samples written and not yet read.
    public var fillLevel: Int {
        head.load(ordering: .acquiring) &- tail.load(ordering: .acquiring)
    }

    /// Samples the producer could write now.
    public var freeSpace: Int { capacity - fillLevel }

    /// Samples the producer could not write because the ring was full, since creation.
    public var droppedSamples: Int { dropped.load(ordering: .relaxed) }

    /// Samples ever written (the producer's sample counter).
    public var totalWritten: Int { head.load(ordering: .acquiring) }

    /// Samples ever read (the consumer's sample counter: the index of the next sample).
    public var totalRead: Int { tail.load(ordering: .acquiring) }

    /// Producer only. Writes as many samples as fit, counts the rest as dropped, returns
    /// how many were written. Never blocks, never allocates.
    @discardableResult
    public func push(_ samples: UnsafeBufferPointer<Sample>) -> Int {
        let written = write(samples)
        if written < samples.count {
            dropped.wrappingIncrement(by: samples.count - written, ordering: .relaxed)
        }
        return written
    }

    /// Producer only. Writes as many samples as fit and returns how many; the rest is the
    /// caller's to retry (file replay in fast mode waits for space instead of dropping).
    public func pushAvailable(_ samples: UnsafeBufferPointer<Sample>) -> Int {
        write(samples)
    }

    private func write(_ samples: UnsafeBufferPointer<Sample>) -> Int {
        guard let base = samples.baseAddress, samples.count > 0 else { return 0 }
        let h = head.load(ordering: .relaxed)
        let t = tail.load(ordering: .acquiring)   // the consumer is done with slots before t
        let n = min(samples.count, capacity - (h &- t))
        if n == 0 { return 0 }
        let start = h & mask
        let first = min(n, capacity - start)
        (storage + start).update(from: base, count: first)
        if n > first { storage.update(from: base + first, count: n - first) }
        head.store(h &+ n, ordering: .releasing)  // publish the samples
        return n
    }

    /// Consumer only. Moves up to `output.count` samples out, oldest first; returns how many.
    public func pop(into output: UnsafeMutableBufferPointer<Sample>) -> Int {
        guard let base = output.baseAddress, output.count > 0 else { return 0 }
        let t = tail.load(ordering: .relaxed)
        let h = head.load(ordering: .acquiring)   // samples before h are fully written
        let n = min(output.count, h &- t)
        if n == 0 { return 0 }
        let start = t & mask
        let first = min(n, capacity - start)
        base.update(from: storage + start, count: first)
        if n > first { (base + first).update(from: storage, count: n - first) }
        tail.store(t &+ n, ordering: .releasing)  // hand the slots back
        return n
    }
}
