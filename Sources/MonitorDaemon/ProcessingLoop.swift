#if canImport(Glibc)
import Glibc
#endif
import ThreadSupport
import Atomics
import ControlProtocol

/// The processing thread's loop: drains the ring into the pipeline, publishes what it
/// emits, and every second retries the event log and reports overruns.
public final class ProcessingLoop: @unchecked Sendable {
    // @unchecked: the pipeline and buffers belong to the processing thread; what others read
    // is in atomics.
    public let ring: RingBuffer<Float>
    public let capture: CaptureState
    public let dataReady: Wakeup
    public let publisher: EventPublisher
    private let pipeline: AudioPipeline
    /// Samples taken out of the ring so far (the stream's sample counter).
    public let samplesProcessed = ManagedAtomic<Int>(0)
    public let framesProcessed = ManagedAtomic<Int>(0)
    /// Incremented on every loop iteration (the watchdog looks at it).
    public let heartbeat = ManagedAtomic<Int>(0)
    public let stopRequested = ManagedAtomic<Bool>(false)
    private var reportedDropped = 0
    private var reportedXruns = 0
    /// Capture-side events (device_lost, device_ok) with the stream position where they
    /// happened: the capture thread runs ahead of processing by the ring's fill, so they
    /// are published here, once processing reaches that position, to keep the events'
    /// t_audio in stream order.
    private let deviceEvents = Locked<[(sample: Int, event: MonitorEvent)]>([])
    /// Keeps episode audio (nil or disabled: none kept); sees every sample and episode event.
    private let recorder: EpisodeRecorder?

    public init(ring: RingBuffer<Float>, capture: CaptureState, dataReady: Wakeup, publisher: EventPublisher,
                pipeline: AudioPipeline, recorder: EpisodeRecorder? = nil) {
        self.ring = ring
        self.capture = capture
        self.dataReady = dataReady
        self.publisher = publisher
        self.pipeline = pipeline
        self.recorder = recorder?.isEnabled == true ? recorder : nil
    }

    public var sampleRate: Int { pipeline.sampleRate }

    /// Publishes `event` (any thread) when processing reaches stream sample `sample`, with
    /// its t_audio set to that position.
    public func publish(_ event: MonitorEvent, atSample sample: Int) {
        deviceEvents.withLock { $0.append((sample, event)) }
        dataReady.signal()
    }

    /// Publishes the device events at or before `processed` (all of them when `all`: the
    /// stream ends at `processed`); returns the position of the next one still waiting.
    private func publishDeviceEvents(upTo processed: Int, all: Bool = false) -> Int? {
        let (due, next) = deviceEvents.withLock { q -> ([(sample: Int, event: MonitorEvent)], Int?) in
            let n = all ? q.count : (q.firstIndex { $0.sample > processed } ?? q.count)
            let due = Array(q.prefix(n))
            q.removeFirst(n)
            return (due, q.first?.sample)
        }
        for var d in due {
            d.event.tAudio = Double(min(d.sample, processed)) / Double(sampleRate)
            publisher.publish(d.event)
        }
        return next
    }

    /// Runs until stop is requested, or until a finished input has been drained. Then
    /// finishes the pipeline (final events of a running episode).
    public func run() {
        var chunk = [Float](repeating: 0, count: 1024)
        var lastTick = monotonicSeconds()
        let publish: (MonitorEvent) -> Void = { [publisher, recorder, pipeline] event in
            recorder?.observe(event, models: pipeline.modelNames)
            publisher.publish(event)
        }
        while !stopRequested.load(ordering: .acquiring) {
            heartbeat.wrappingIncrement(ordering: .relaxed)
            // Stop at the next device event's position, so it comes out between the
            // pipeline's events of the samples before and after it.
            let processed = samplesProcessed.load(ordering: .relaxed)
            let limit = publishDeviceEvents(upTo: processed).map { min(chunk.count, $0 - processed) } ?? chunk.count
            let n = chunk.withUnsafeMutableBufferPointer { ring.pop(into: UnsafeMutableBufferPointer(rebasing: $0[0..<limit])) }
            if n > 0 {
                chunk.withUnsafeBufferPointer { recorder?.append(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                chunk.withUnsafeBufferPointer { pipeline.process(UnsafeBufferPointer(rebasing: $0[0..<n]), emit: publish) }
                samplesProcessed.wrappingIncrement(by: n, ordering: .releasing)
                framesProcessed.store(pipeline.framesProcessed, ordering: .releasing)
            } else if capture.inputFinished.load(ordering: .acquiring) && ring.fillLevel == 0 {
                break
            } else {
                dataReady.wait(timeoutMillis: 200)
            }
            let now = monotonicSeconds()
            if now - lastTick >= 1 {
                lastTick = now
                tick()
            }
        }
        pipeline.finish(emit: publish)
        framesProcessed.store(pipeline.framesProcessed, ordering: .releasing)
        _ = publishDeviceEvents(upTo: samplesProcessed.load(ordering: .relaxed), all: true)
        tick()
    }

    /// t_audio of the next sample.
    public var audioSeconds: Double {
        Double(samplesProcessed.load(ordering: .acquiring)) / Double(sampleRate)
    }

    private func tick() {
        publisher.log.retryPending()
        let dropped = ring.droppedSamples
        let xruns = capture.xruns.load(ordering: .relaxed)
        if dropped != reportedDropped || xruns != reportedXruns {
            publisher.publish(.overrun(droppedSamples: dropped - reportedDropped, xruns: xruns - reportedXruns,
                                       totalDroppedSamples: dropped, totalXruns: xruns, tAudio: audioSeconds))
            reportedDropped = dropped
            reportedXruns = xruns
        }
    }
}
