// The AudioIO stage: WAV files in and out, sample-rate conversion (libsoxr) and live
// capture from ALSA. Everything downstream sees mono Float samples, full scale = 1.0.

/// Mono audio at a known sample rate; full scale is 1.0.
public struct AudioBuffer: Sendable, Equatable {
    public var samples: [Float]
    public var sampleRate: Int

    public init(samples: [Float], sampleRate: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
    }

    /// Length in seconds (0 when the rate is not positive).
    public var duration: Double {
        sampleRate > 0 ? Double(samples.count) / Double(sampleRate) : 0
    }
}

/// A problem with one audio file: which file, and what exactly is wrong with it.
public struct AudioFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
