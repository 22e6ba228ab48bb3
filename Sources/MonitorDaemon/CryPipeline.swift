import ControlProtocol
import Features

/// The stages between the ring buffer and the publisher, run on the processing thread:
///
///     samples -> FeatureExtractor (25 ms / 10 ms frames) -> CryDetector (gate + p(cry) +
///     episodes) -> StreamingClassifier over the episode's frames -> need events
///
/// Sample index 0 is the stream's first sample; every event's `t_audio` is a sample or
/// frame index over `sampleRate`.
public protocol AudioPipeline: AnyObject {
    var sampleRate: Int { get }
    /// Feature frames processed so far.
    var framesProcessed: Int { get }
    /// Model files in use (for status and the `started` event), e.g. ("cause", path).
    var modelNames: [(String, String)] { get }
    /// Consumes the next samples of the stream; calls `emit` for each event it completes.
    func process(_ samples: UnsafeBufferPointer<Float>, emit: (MonitorEvent) -> Void)
    /// End of the stream (file end, or shutdown): emits the frames held back for
    /// look-ahead and closes a running episode with its final events.
    func finish(emit: (MonitorEvent) -> Void)
}

/// The daemon's pipeline.
///
/// INTEGRATION POINT (features, detector, cause model): `CryPipeline.process(_:emit:)`
/// feeds `FeatureExtractor.process`, whose frames go to `CryPipeline.handleFrame(_:_:emit:)`;
/// there the detector (`CryDetector.process`) and, inside an episode, the cause classifier
/// (`StreamingClassifier.step`) run and emit `cry_start` / `need` / `cry_end` through the
/// `MonitorEvent` constructors. Until those stages land, frames are counted and no cry
/// events are produced (no fake detector).
public final class CryPipeline: AudioPipeline {
    public let sampleRate: Int
    public let frontEnd: FrontEndConfig
    public private(set) var framesProcessed = 0
    public let modelNames: [(String, String)]
    private var samplesSeen = 0

    public init(sampleRate: Int, causeModel: String?, detectorModel: String?) {
        self.sampleRate = sampleRate
        self.frontEnd = FrontEndConfig(sampleRate: sampleRate)
        var names: [(String, String)] = []
        if let detectorModel { names.append(("detector", detectorModel)) }
        if let causeModel { names.append(("cause", causeModel)) }
        self.modelNames = names
    }

    public func process(_ samples: UnsafeBufferPointer<Float>, emit: (MonitorEvent) -> Void) {
        // Placeholder for FeatureExtractor.process: count the frames it will emit
        // (frame i covers samples [i*hop, i*hop + win)).
        samplesSeen += samples.count
        let complete = samplesSeen >= frontEnd.frameLength
            ? (samplesSeen - frontEnd.frameLength) / frontEnd.hopLength + 1 : 0
        framesProcessed = complete
    }

    public func finish(emit: (MonitorEvent) -> Void) {}
}
