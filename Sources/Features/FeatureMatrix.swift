/// Frame-level features of a whole recording: `frameCount` rows of `featureCount` values,
/// row-major (row t = frame t, starting at `FrontEndConfig.frameStartTime(t)`).
public struct FeatureMatrix: Sendable, Equatable {
    public var frameCount: Int
    public var featureCount: Int
    public var values: [Float]

    /// `values.count` must be `frameCount * featureCount`.
    public init(frameCount: Int, featureCount: Int, values: [Float]) {
        precondition(frameCount >= 0 && featureCount > 0 && values.count == frameCount * featureCount,
                     "FeatureMatrix: \(values.count) values for \(frameCount) x \(featureCount)")
        self.frameCount = frameCount
        self.featureCount = featureCount
        self.values = values
    }

    /// An empty matrix of `featureCount` columns.
    public init(featureCount: Int) {
        self.init(frameCount: 0, featureCount: featureCount, values: [])
    }

    /// Row `frame` (its indices are those of `values`).
    public subscript(frame: Int) -> ArraySlice<Float> {
        values[frame * featureCount ..< (frame + 1) * featureCount]
    }

    /// Appends one row of `featureCount` values.
    public mutating func append(_ row: UnsafeBufferPointer<Float>) {
        precondition(row.count == featureCount, "FeatureMatrix: row of \(row.count), expected \(featureCount)")
        values.append(contentsOf: row)
        frameCount += 1
    }
}
