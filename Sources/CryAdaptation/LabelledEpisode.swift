import Foundation
import AudioIO
import ControlProtocol
import Features

/// One kept episode with the parents' labels (`episode-<N>.json` + `episode-<N>.wav`, written
/// by the daemon's EpisodeRecorder), as adaptation sees it.
///
/// Labels are read newest last: the last label decides cry or not (`not-cry` makes it a
/// detector negative, any other label a positive); the last cause label (`hungry` ...) gives
/// the cause, unless the episode was finally labelled `not-cry`.
public struct LabelledEpisode: Sendable {
    public var number: Int
    public var isCry: Bool
    public var cause: String?
    /// Raw front-end features of the whole file (pre-roll included).
    public var features: FeatureMatrix
    /// First frame of the episode proper (after the pre-roll).
    public var onsetFrame: Int
    public var labelCount: Int

    /// Reads every labelled episode in `directory` (unlabelled ones are skipped; a sidecar
    /// or WAV that cannot be read is an error naming it).
    public static func load(directory: String, frontEnd: FrontEndConfig) throws -> [LabelledEpisode] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw AdaptationError.data("\(directory): cannot list the episodes directory (\(error.localizedDescription))")
        }
        var out: [LabelledEpisode] = []
        for name in names where name.hasPrefix("episode-") && name.hasSuffix(".json") {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path),
                  let text = String(data: data, encoding: .utf8),
                  let json = try? JSONValue.parse(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw AdaptationError.data("\(path): not a readable episode sidecar (JSON)")
            }
            let labels = (json["labels"]?.arrayValue ?? []).compactMap { $0["label"]?.stringValue }
            guard let last = labels.last else { continue }
            var parsed: [EpisodeLabel] = []
            for l in labels {
                guard let v = EpisodeLabel(rawValue: l) else {
                    throw AdaptationError.data("\(path): unknown label \"\(l)\" (known: \(EpisodeLabel.knownList))")
                }
                parsed.append(v)
            }
            guard let number = json["episode"]?.intValue else { throw AdaptationError.data("\(path): no \"episode\" number") }
            let audioName = json["audio"]?.stringValue ?? "episode-\(number).wav"
            guard !audioName.contains("/") else { throw AdaptationError.data("\(path): \"audio\" must be a file name") }
            let audio: AudioBuffer
            do { audio = try WAVReader.read(path: directory + "/" + audioName, sampleRate: frontEnd.sampleRate) } catch {
                throw AdaptationError.data("\(directory)/\(audioName): \(error)")
            }
            let features = FeatureExtractor.extract(audio.samples, config: frontEnd)
            let offset = json["onset_offset_s"]?.doubleValue ?? 0
            let onset = min(max(0, features.frameCount - 1),
                            Int((offset * Double(frontEnd.sampleRate) / Double(frontEnd.hopLength)).rounded()))
            let isCry = EpisodeLabel(rawValue: last) != .notCry
            let cause = isCry ? parsed.last(where: { $0.cause != nil })?.cause : nil
            out.append(LabelledEpisode(number: number, isCry: isCry, cause: cause, features: features,
                                       onsetFrame: onset, labelCount: labels.count))
        }
        return out.sorted { $0.number < $1.number }
    }
}
