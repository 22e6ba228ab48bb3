import Foundation

/// Training progress on stderr: on a terminal, one bar per epoch redrawn in place
/// (`epoch 3/50 [#######.....] 12/20 loss 1.234`) and finished with the epoch's figures;
/// otherwise (a log file, a pipe) one plain line per epoch and no bars.
public final class TrainingProgressPrinter {
    public let isTerminal: Bool
    public let totalEpochs: Int
    private let write: (String) -> Void
    private var lastDraw = Date.distantPast

    public init(totalEpochs: Int, isTerminal: Bool = isatty(2) != 0,
                write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.totalEpochs = totalEpochs
        self.isTerminal = isTerminal
        self.write = write
    }

    public func batchDone(epoch: Int, batch: Int, of batches: Int, loss: Double) {
        guard isTerminal else { return }
        let now = Date()
        // Redraw at most 10 times a second, and always on the last batch.
        guard batch + 1 == batches || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let width = 24
        let filled = (batch + 1) * width / max(1, batches)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        write("\r\u{1B}[2Kepoch \(epoch)/\(totalEpochs) [\(bar)] \(batch + 1)/\(batches) loss \(formatFixed(loss, 3))")
    }

    public func epochDone(_ s: EpochSummary) {
        let validation = s.hasValidation
            ? "  val UAR \(formatFixed(s.validationUAR, 3))  val macro-F1 \(formatFixed(s.validationMacroF1, 3))"
            : "  (no validation part)"
        let line = "epoch \(s.epoch)/\(totalEpochs)  loss \(formatFixed(s.meanLoss, 4))" + validation
            + "  \(formatFixed(s.seconds, 1)) s  \(Int(s.framesPerSecond.rounded())) frames/s"
            + (s.isBest && s.hasValidation ? "  *best" : "")
        write((isTerminal ? "\r\u{1B}[2K" : "") + line + "\n")
    }

    public func message(_ text: String) {
        write((isTerminal ? "\r\u{1B}[2K" : "") + text + "\n")
    }
}

/// Set by SIGINT (Ctrl-C): training polls it between batches and then writes the best
/// model so far. A second Ctrl-C restores the default action, so it kills a stuck run.
public final class InterruptFlag: @unchecked Sendable {
    // @unchecked: `raised` is guarded by `lock`; the dispatch source lives as long as self.
    private let lock = NSLock()
    private var raised = false
    private var source: DispatchSourceSignal?

    public init() {}

    public var isRaised: Bool {
        lock.lock(); defer { lock.unlock() }
        return raised
    }

    public func raise() {
        lock.lock(); raised = true; lock.unlock()
    }

    /// Routes SIGINT to this flag (instead of killing the process).
    public func installForSIGINT(onFirst: @escaping @Sendable () -> Void = {}) {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in
            guard let self else { return }
            if self.isRaised {
                signal(SIGINT, SIG_DFL)
                kill(getpid(), SIGINT)
            }
            self.raise()
            onFirst()
        }
        source.resume()
        self.source = source
    }
}
