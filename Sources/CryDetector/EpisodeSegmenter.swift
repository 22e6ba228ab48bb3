/// One cry episode, in frame indices of the feature stream.
public struct CryEpisode: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// First frame of the cry (estimated back from the confirmation).
    public var onsetFrame: Int
    /// Frame at which the detector committed to the episode (`.started` was announced).
    public var confirmationFrame: Int
    /// One past the last frame with cry probability >= offThreshold.
    public var endFrame: Int

    public init(onsetFrame: Int, confirmationFrame: Int, endFrame: Int) {
        self.onsetFrame = onsetFrame
        self.confirmationFrame = confirmationFrame
        self.endFrame = endFrame
    }

    public var description: String { "CryEpisode(\(onsetFrame)..<\(endFrame), confirmed \(confirmationFrame))" }
}

/// What the streaming segmenter announces, in frame indices.
public enum EpisodeEvent: Sendable, Equatable {
    /// An episode is confirmed: it began at `onset`, the decision was taken at `confirmedAt`.
    case started(onset: Int, confirmedAt: Int)
    /// The episode that started last is over; it ended at `end` (exclusive frame index).
    /// Comes `hangover` + up to `mergeGap + onsetLookback` after the end, once no later
    /// onset can be merged into it any more.
    case ended(end: Int)
}

/// Turns a per-frame cry probability into cry episodes (streaming, constant memory, no
/// allocation per frame). Rules, with the parameters of `DetectorConfiguration`:
///
/// 1. Confirmation: `onsetConfirmationFrames` consecutive frames with p >= onThreshold,
///    outside an episode, start a segment.
/// 2. Onset: back from the confirming run over the contiguous frames with p >= offThreshold
///    before it; then back to the frame where the gate opened, if the gate has been open
///    since and that is at most `onsetLookback` earlier; never before the previous
///    segment's end.
/// 3. End: a segment ends after `hangover` consecutive frames with p < offThreshold; its
///    end is one past its last frame with p >= offThreshold.
/// 4. Merge: a segment whose onset lies less than `mergeGap` after the previous segment's
///    end continues that episode.
/// 5. Minimum length: an episode is announced (`.started`) at the first frame with
///    p >= offThreshold, inside a confirmed segment, at which it reaches
///    `minimumEpisode` frames from its onset; an episode that never does is dropped.
///
/// `EpisodeSegmenter.episodes(probabilities:gate:configuration:)` applies the same rules
/// to a whole array in separate passes; tests check both agree.
public struct EpisodeSegmenter: Sendable {
    private(set) var on: Float, off: Float
    let confirm: Int, hangover: Int, minimumLength: Int, mergeGap: Int, lookback: Int

    /// Index of the next frame.
    public private(set) var frameIndex = 0
    private var gateOpenSince = -1          // -1: gate closed
    private var activeSince = -1            // start of the current run of p >= off; -1: none
    private var aboveRun = 0                // length of the current run of p >= on
    private var inSegment = false
    private var lastActive = -1             // last frame with p >= off in the current segment
    private var previousSegmentEnd = 0      // end of the last finished segment (onset clamp)

    // The current episode (possibly merged from several segments), not yet finalised.
    private var hasEpisode = false
    private var episodeOnset = 0
    private var episodeEnd = 0              // end of its last finished segment
    private var episodeStarted = false
    private var episodeConfirmation = 0

    public init(configuration c: DetectorConfiguration = .standard) {
        on = c.onThreshold
        off = c.offThreshold
        confirm = c.confirmationFrames
        hangover = c.hangoverFrames
        minimumLength = c.minimumEpisodeFrames
        mergeGap = c.mergeGapFrames
        lookback = c.onsetLookbackFrames
    }

    /// New thresholds from the next frame on (a model with its own operating point swapped in
    /// between frames); the running counts go on. The caller checks 0 <= off <= on <= 1.
    public mutating func setThresholds(on: Float, off: Float) {
        self.on = on
        self.off = off
    }

    /// Whether an episode has been announced with `.started` and not yet `.ended`.
    public var isInEpisode: Bool { hasEpisode && episodeStarted }
    /// The onset and confirmation of the announced episode, if any.
    public var currentEpisode: (onset: Int, confirmedAt: Int)? {
        isInEpisode ? (episodeOnset, episodeConfirmation) : nil
    }

    /// Feeds frame `frameIndex`'s cry probability (0 while the gate is closed) and whether
    /// the gate is open at it; calls `emit` with 0, 1 or 2 events (an `.ended` of the
    /// previous episode comes before a `.started`).
    public mutating func process(probability p: Float, gateOpen: Bool, emit: (EpisodeEvent) -> Void) {
        let t = frameIndex
        frameIndex += 1
        if gateOpen { if gateOpenSince < 0 { gateOpenSince = t } } else { gateOpenSince = -1 }
        let active = p >= off
        if active { if activeSince < 0 { activeSince = t } } else { activeSince = -1 }
        aboveRun = p >= on ? aboveRun + 1 : 0

        if inSegment {
            if active {
                lastActive = t
                announceIfLongEnough(t, emit: emit)
            } else if t - lastActive >= hangover {
                inSegment = false
                episodeEnd = lastActive + 1
                previousSegmentEnd = episodeEnd
            }
        } else if aboveRun >= confirm {
            // Rule 2: onset estimated back from the confirming run.
            var onset = activeSince
            if gateOpenSince >= 0 && gateOpenSince <= onset && onset - gateOpenSince <= lookback {
                onset = gateOpenSince
            }
            onset = max(onset, previousSegmentEnd)
            if hasEpisode {
                if onset - episodeEnd < mergeGap {
                    // Rule 4: this segment continues the pending episode.
                    inSegment = true
                    lastActive = t
                    announceIfLongEnough(t, emit: emit)
                    return
                }
                finalise(emit: emit)
            }
            hasEpisode = true
            episodeOnset = onset
            episodeStarted = false
            inSegment = true
            lastActive = t
            announceIfLongEnough(t, emit: emit)
            return
        }

        if hasEpisode && !inSegment {
            // Finalise once no future segment can have its onset within the merge gap:
            // a future onset is at least min(B, max(G, B - lookback)), where B is where the
            // current run of p >= off began (or the next frame) and G where the gate opened.
            let b = active ? activeSince : t + 1
            let g = gateOpen ? gateOpenSince : t + 1
            let earliest = max(min(b, max(g, b - lookback)), episodeEnd)
            if earliest - episodeEnd >= mergeGap { finalise(emit: emit) }
        }
    }

    /// End of stream: closes a running segment and announces the end of a started episode.
    public mutating func finish(emit: (EpisodeEvent) -> Void) {
        if inSegment {
            inSegment = false
            episodeEnd = lastActive + 1
        }
        if hasEpisode { finalise(emit: emit) }
    }

    public mutating func reset() {
        self = EpisodeSegmenter(on: on, off: off, confirm: confirm, hangover: hangover,
                                minimumLength: minimumLength, mergeGap: mergeGap, lookback: lookback)
    }

    private init(on: Float, off: Float, confirm: Int, hangover: Int, minimumLength: Int, mergeGap: Int, lookback: Int) {
        self.on = on; self.off = off; self.confirm = confirm; self.hangover = hangover
        self.minimumLength = minimumLength; self.mergeGap = mergeGap; self.lookback = lookback
    }

    @inline(__always)
    private mutating func announceIfLongEnough(_ t: Int, emit: (EpisodeEvent) -> Void) {
        if !episodeStarted && t + 1 - episodeOnset >= minimumLength {
            episodeStarted = true
            episodeConfirmation = t
            emit(.started(onset: episodeOnset, confirmedAt: t))
        }
    }

    private mutating func finalise(emit: (EpisodeEvent) -> Void) {
        if episodeStarted { emit(.ended(end: episodeEnd)) }
        hasEpisode = false
        episodeStarted = false
    }
}

extension EpisodeSegmenter {
    /// The same rules over a whole recording, in separate passes (segments, onset clamp,
    /// merge, minimum length). `gate` (same length, or nil for "never open") only serves the
    /// onset look-back.
    public static func episodes(probabilities p: [Float], gate: [Bool]? = nil,
                                configuration c: DetectorConfiguration = .standard) -> [CryEpisode] {
        let n = p.count
        let on = c.onThreshold, off = c.offThreshold
        let confirm = c.confirmationFrames, hangover = c.hangoverFrames
        let lookback = c.onsetLookbackFrames
        let gateOpen = gate ?? [Bool](repeating: false, count: n)
        precondition(gateOpen.count == n, "gate and probabilities differ in length")

        // Where each frame's run of gate-open frames / of p >= off began (-1: not in one).
        var gateStart = [Int](repeating: -1, count: n)
        var activeStart = [Int](repeating: -1, count: n)
        for t in 0..<n {
            if gateOpen[t] { gateStart[t] = t > 0 && gateStart[t - 1] >= 0 ? gateStart[t - 1] : t }
            if p[t] >= off { activeStart[t] = t > 0 && activeStart[t - 1] >= 0 ? activeStart[t - 1] : t }
        }

        // Pass 1: hysteresis segments (raw onset, confirmation, last active frame).
        struct Segment { var onset: Int; var confirmation: Int; var lastActive: Int }
        var segments: [Segment] = []
        var t = 0
        var run = 0
        while t < n {
            run = p[t] >= on ? run + 1 : 0
            guard run >= confirm else { t += 1; continue }
            var onset = activeStart[t]
            // The gate must have been open from g through the confirmation.
            let g = gateStart[t]
            if g >= 0 && g <= onset && onset - g <= lookback { onset = g }
            var last = t
            var u = t + 1
            while u < n {
                if p[u] >= off { last = u } else if u - last >= hangover { break }
                u += 1
            }
            segments.append(Segment(onset: onset, confirmation: t, lastActive: last))
            t = u + 1
            run = 0
        }

        // Pass 2: an onset never precedes the previous segment's end.
        for i in segments.indices.dropFirst() {
            segments[i].onset = max(segments[i].onset, segments[i - 1].lastActive + 1)
        }

        // Pass 3: merge segments separated by less than the merge gap.
        var groups: [[Segment]] = []
        for s in segments {
            if let prev = groups.last?.last, s.onset - (prev.lastActive + 1) < c.mergeGapFrames {
                groups[groups.count - 1].append(s)
            } else {
                groups.append([s])
            }
        }

        // Pass 4: announce at the first active confirmed frame reaching the minimum length.
        var result: [CryEpisode] = []
        for group in groups {
            let onset = group[0].onset
            let due = onset + c.minimumEpisodeFrames - 1
            var confirmation: Int?
            search: for s in group {
                for u in max(s.confirmation, due)...max(s.lastActive, due) where u <= s.lastActive && p[u] >= off {
                    confirmation = u
                    break search
                }
            }
            if let confirmation {
                result.append(CryEpisode(onsetFrame: onset, confirmationFrame: confirmation,
                                         endFrame: group[group.count - 1].lastActive + 1))
            }
        }
        return result
    }
}
