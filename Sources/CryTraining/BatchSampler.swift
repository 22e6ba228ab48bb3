/// One training example: frames [start, start + length) of a clip, labelled at its last frame.
public struct Crop: Sendable, Equatable {
    public var clip: Int
    public var start: Int
    public var length: Int
    public var label: Int
}

/// Class-balanced batches of random crops, deterministic for a seed.
///
/// Each draw picks a class uniformly among the classes with training clips, then a clip of
/// that class uniformly, then a crop length uniformly in [min(minimumFrames, n), n] frames
/// and a start uniformly in [0, n - length]. The paper decides at a recording's last frame;
/// short crops train the decisions the daemon makes a few seconds into a cry.
public struct BalancedBatchSampler: Sendable {
    public let minimumFrames: Int
    private let clipsByClass: [[Int]]     // non-empty classes only
    private let labels: [Int]
    private let frameCounts: [Int]
    private var rng: SeededGenerator

    /// - clips: indices (into `labels`/`frameCounts`) of the clips to sample from.
    public init(clips: [Int], labels: [Int], frameCounts: [Int], classCount: Int,
                minimumFrames: Int, seed: UInt64) {
        var byClass = [[Int]](repeating: [], count: classCount)
        for i in clips.sorted() where frameCounts[i] > 0 { byClass[labels[i]].append(i) }
        clipsByClass = byClass.filter { !$0.isEmpty }
        self.labels = labels
        self.frameCounts = frameCounts
        self.minimumFrames = max(1, minimumFrames)
        rng = SeededGenerator(seed: seed ^ 0xBA7C_4E5)
        precondition(!clipsByClass.isEmpty, "BalancedBatchSampler: no clip with frames to sample")
    }

    public mutating func nextCrop() -> Crop {
        let members = clipsByClass[rng.nextInt(in: 0...(clipsByClass.count - 1))]
        let clip = members[rng.nextInt(in: 0...(members.count - 1))]
        let n = frameCounts[clip]
        let length = rng.nextInt(in: min(minimumFrames, n)...n)
        let start = rng.nextInt(in: 0...(n - length))
        return Crop(clip: clip, start: start, length: length, label: labels[clip])
    }

    public mutating func nextBatch(size: Int) -> [Crop] {
        (0..<size).map { _ in nextCrop() }
    }
}
