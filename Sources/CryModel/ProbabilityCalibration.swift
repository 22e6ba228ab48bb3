// FoundationEssentials where the toolchain has it: no full Foundation in babymonitord (issue 15).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a cause model's posteriors mean on babies it never heard.
///
/// The network is trained on class-balanced crops, so its softmax answers "which cause, if
/// every cause were equally common", and on unseen families it is over-confident. The
/// calibration maps its output p to
///
///     q_k = softmax_k( log p_k / T + b_k )
///
/// with one temperature T (T > 1 softens) and one offset b_k per class (the prior
/// correction: it moves the balanced output towards how often each need really occurs).
/// T and b are fitted by maximum likelihood on out-of-fold predictions of grouped
/// cross-validation (`CalibrationFit`), and stored in the model file's metadata under
/// `calibration` (an additive key: files without it load as uncalibrated, q = p).
///
/// Two uses are kept apart:
/// - `calibrated(_:)`: the posteriors a parent sees (`need` probs and confidence), scored
///   by log-loss, Brier and ECE;
/// - `balancedDecision(_:)`: the class-balanced decision that UAR and macro-F1 (the paper's
///   metrics) score: argmax_k q_k / exp(b_k), the calibrated posterior with its prior
///   correction divided out again. That is argmax_k p_k, the network's own class-balanced
///   answer (it was trained on class-balanced crops), so calibration never changes UAR or
///   macro-F1; with a pure prior correction (b = log prior) it is argmax_k q_k / prior_k.
public struct ProbabilityCalibration: Sendable, Equatable {
    /// T in q = softmax(log p / T + b); at least `minimumInverseTemperature`'s inverse.
    public var temperature: Double
    /// b, one per class.
    public var logPriorCorrection: [Double]
    /// Class frequencies of the predictions the calibration was fitted on (sum 1): the
    /// training prior of the balanced decision and of `prior_log_loss`.
    public var prior: [Double]
    /// How many predictions it was fitted on, and from what (free text for `inspect`).
    public var fittedClips: Int
    public var source: String

    /// The metadata key in the model file.
    public static let metadataKey = "calibration"
    /// Probabilities are floored here before the logarithm (a 0 from float underflow would
    /// otherwise make a class impossible forever).
    public static let probabilityFloor = 1e-7

    public init(temperature: Double, logPriorCorrection: [Double], prior: [Double], fittedClips: Int = 0, source: String = "") {
        self.temperature = temperature
        self.logPriorCorrection = logPriorCorrection
        self.prior = prior
        self.fittedClips = fittedClips
        self.source = source
    }

    /// The identity (q = p) with a given prior: what an uncalibrated model is taken to mean.
    public static func identity(classCount: Int, prior: [Double]? = nil) -> ProbabilityCalibration {
        ProbabilityCalibration(temperature: 1, logPriorCorrection: [Double](repeating: 0, count: classCount),
                               prior: prior ?? [Double](repeating: 1 / Double(max(1, classCount)), count: classCount))
    }

    public var classCount: Int { logPriorCorrection.count }

    /// q = softmax(log p / T + b).
    public func calibrated(_ p: [Float]) -> [Float] {
        precondition(p.count == classCount, "\(p.count) posteriors for a \(classCount)-class calibration")
        var z = [Double](repeating: 0, count: p.count)
        for k in p.indices {
            z[k] = log(max(Double(p[k]), Self.probabilityFloor)) / temperature + logPriorCorrection[k]
        }
        let m = z.max() ?? 0
        var sum = 0.0
        for k in z.indices { z[k] = exp(z[k] - m); sum += z[k] }
        return z.map { Float($0 / sum) }
    }

    /// argmax_k q_k / exp(b_k) of calibrated posteriors q (= argmax of the network's own p;
    /// use `argmax(p)` where p is at hand, which is exact whatever the temperature).
    public func balancedDecision(_ q: [Float]) -> Int {
        var best = 0, bestScore = -Double.infinity
        for k in q.indices {
            let score = log(max(Double(q[k]), 1e-30)) - logPriorCorrection[k]
            if score > bestScore { best = k; bestScore = score }
        }
        return best
    }

    // MARK: metadata

    /// `{"temperature":T,"log_prior_correction":[...],"prior":[...],"fitted_clips":n,"source":"..."}`
    public func metadataJSON() -> String {
        struct Stored: Encodable {
            let temperature: Double, log_prior_correction: [Double], prior: [Double]
            let fitted_clips: Int, source: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let stored = Stored(temperature: temperature, log_prior_correction: logPriorCorrection, prior: prior,
                            fitted_clips: fittedClips, source: source)
        let data = (try? encoder.encode(stored)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses `metadataJSON()`; `classCount` is the model's. The error names what is wrong.
    public init(metadataJSON text: String, classCount: Int) throws {
        struct Problem: Error, CustomStringConvertible { var description: String }
        guard case .object(let object)? = try? JSONDecoder().decode(HeaderJSON.self, from: Data(text.utf8)) else {
            throw Problem(description: "is not a JSON object")
        }
        func number(_ value: HeaderJSON?) -> Double? {
            switch value {
            case .int(let i)?: return Double(i)
            case .number(let d)?: return d
            default: return nil
            }
        }
        func numbers(_ key: String) throws -> [Double] {
            guard case .array(let list)? = object[key], list.count == classCount else {
                throw Problem(description: "\(key) is not a list of \(classCount) numbers")
            }
            return try list.map {
                guard let n = number($0), n.isFinite else {
                    throw Problem(description: "\(key) holds a non-number")
                }
                return n
            }
        }
        guard let t = number(object["temperature"]), t.isFinite, t > 0 else {
            throw Problem(description: "temperature is missing or not a positive number")
        }
        let b = try numbers("log_prior_correction"), prior = try numbers("prior")
        guard prior.allSatisfy({ $0 > 0 }), abs(prior.reduce(0, +) - 1) < 1e-3 else {
            throw Problem(description: "prior must be positive and sum to 1")
        }
        var fittedClips = 0
        if case .int(let n)? = object["fitted_clips"] { fittedClips = n }
        var source = ""
        if case .string(let s)? = object["source"] { source = s }
        self.init(temperature: t, logPriorCorrection: b, prior: prior, fittedClips: fittedClips, source: source)
    }
}

extension CryModelFile {
    /// The stored calibration, nil when the file has none (an uncalibrated model: its
    /// posteriors are shown as they are). A malformed one is refused when the file is read.
    public var calibration: ProbabilityCalibration? {
        get {
            extras[ProbabilityCalibration.metadataKey].flatMap {
                try? ProbabilityCalibration(metadataJSON: $0, classCount: configuration.classes.count)
            }
        }
        set { extras[ProbabilityCalibration.metadataKey] = newValue?.metadataJSON() }
    }
}
