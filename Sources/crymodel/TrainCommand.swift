import ArgumentParser
import AudioIO
import CryModel
import CryTraining
import Features
import Foundation

/// `crymodel train`: grouped split, class-balanced crops, data-parallel BPTT with Adam,
/// early stopping on validation UAR; writes the best model with its normalisation and
/// the held-out test groups.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a cry model on <dir>/<class>/*.wav corpora (split by recording group).",
        discussion: """
            Groups (one family, one source recording) never straddle train/validation/test. \
            20% of the groups are held out for testing and recorded in the model file: \
            measure them with `crymodel evaluate --split test`. Model selection uses the \
            validation part only. Ctrl-C writes the best model so far.

            --all-groups trains on every group for exactly --epochs epochs, with no \
            validation or test part and no early stopping: the last step of "choose by \
            grouped cross-validation (crymodel experiment --folds K, which prints the chosen \
            model and epoch count), then train on the whole corpus". Such a model has no \
            held-out groups; its honest figures are the cross-validation ones.
            """)

    @OptionGroup var common: TrainingArguments
    @Option(help: "Recurrent cell: lstm, gru or attgate.")
    var cell: String = "attgate"
    @Option(help: "Attention depth L (attgate; default 1; lstm/gru: 0).")
    var depth: Int?
    @Option(help: "Output model file.") var out: String
    @Flag(help: "Train on every group for exactly --epochs epochs (no validation/test part, no early stopping).")
    var allGroups = false

    func run() throws {
        let setup = try TrainingSetup(common, cell: cell, depth: depth)
        let data = common.data, threads = common.threads
        let flag = InterruptFlag()
        let printer = TrainingProgressPrinter(totalEpochs: common.epochs)
        flag.installForSIGINT { FileHandle.standardError.write(Data("\ncrymodel: interrupted, finishing the batch and writing the best model so far\n".utf8)) }

        let prepared: PreparedCorpus
        do {
            let corpus = try common.augmented(
                TrainingPipeline.loadCorpus(task: setup.task, directories: data, trainOnly: common.trainOnly), printer: printer)
            printer.message(TrainingCLI.describe(corpus))
            // --all-groups: every group in the training part (the split then places nothing elsewhere).
            prepared = try TrainingPipeline.prepare(corpus: corpus, frontEnd: setup.frontEnd, seed: common.seed,
                                                    testFraction: allGroups ? 0 : 0.2,
                                                    validationFraction: allGroups ? 0 : 0.2, threads: threads)
        } catch {
            throw fail("\(error)", code: TrainingCLI.sysExit(for: error))
        }
        printer.message(TrainingCLI.describe(prepared))
        let model = try setup.modelConfiguration(classes: prepared.corpus.classes)
        let params = ((try? CryNetwork<Float>.random(configuration: model, seed: 0))?.parameterCount).map(String.init) ?? "?"
        printer.message("model: \(model.cell.rawValue) depth \(model.depth) hidden \(model.hidden) dense \(model.dense), \(params) parameters; \(threads) threads")

        let (network, result) = try TrainingPipeline.train(
            data: prepared, configuration: model, options: setup.options,
            batchDone: { printer.batchDone(epoch: $0, batch: $1, of: $2, loss: $3) },
            epochDone: { printer.epochDone($0) },
            shouldStop: { flag.isRaised })
        if result.interrupted && result.bestEpoch == 0 {
            throw fail("interrupted before the first epoch ended; no model written", code: SysExit.failure)
        }
        var file = TrainingPipeline.modelFile(
            network: network, data: prepared, result: result, options: setup.options,
            commandLine: CommandLine.arguments.map(TrainingCLI.shellQuoted).joined(separator: " "), directories: data)
        if allGroups { file.extras["all_groups"] = "true" }
        do {
            try file.write(to: out)
        } catch {
            throw fail("cannot write \(out): \(error)", code: SysExit.ioError)
        }
        if let v = result.bestValidation {
            print("best epoch \(result.bestEpoch) of \(result.history.count); validation part (\(prepared.split.validation.count) clips):")
            print(v.formattedTable(), terminator: "")
        }
        let how = result.interrupted ? " (interrupted)" : result.stoppedEarly ? " (early stop)" : ""
        if allGroups {
            print("wrote \(out)\(how): \(result.history.count) epochs on all \(prepared.split.train.count) clips in \(prepared.groups(of: prepared.split.train).count) groups; no held-out groups (quote the figures of the same recipe measured with groups held out)")
            return
        }
        print("wrote \(out)\(how); held-out test: \(prepared.split.test.count) clips in \(prepared.groups(of: prepared.split.test).count) groups (crymodel evaluate --model \(out) --data ... --split test)")
    }
}

/// Options shared by `train` and `experiment`.
struct TrainingArguments: ParsableArguments {
    @Option(help: "cause (folder names are the classes) or detect (cry / not_cry).")
    var task: String = "cause"
    @Option(name: .customLong("data"), help: "Corpus folder <dir>/<class>/*.wav (repeatable).")
    var data: [String] = []
    @Option(name: .customLong("train-only"), help: "Corpus folder whose clips only ever train (never validated or tested; dropped from a split's training part when their family is held out there; classes not in --data are ignored; a manifest.csv's silent/quiet/short files are skipped). Repeatable.")
    var trainOnly: [String] = []
    @Option(help: "Recurrent layer sizes, bottom first (paper: 512,256).")
    var hidden: String = "128,64"
    @Option(help: "Tanh dense layer sizes (paper: 256,128).")
    var dense: String = "64"
    @Flag(help: "The paper's sizes: hidden 512,256, dense 256,128.")
    var paperSizes = false
    @Option(help: "Maximum epochs.") var epochs: Int = 100
    @Option(help: "Clips per batch.") var batch: Int = 64
    @Option(help: "Adam learning rate.") var lr: Float = 1e-3
    @Option(help: "Adam beta2 (paper: 0.7).") var beta2: Float = 0.7
    @Option(help: "L2 weight decay added to the gradient.") var l2: Float = 1e-4
    @Option(help: "Seed of the split, the initial weights and the sampling.") var seed: UInt64 = 1
    @Option(help: "Epochs without a better validation UAR before stopping (0: never).") var patience: Int = 20
    @Option(help: "Batches per epoch (default: training clips / batch).") var batchesPerEpoch: Int?
    @Option(help: "Shortest training crop in seconds.") var minCrop: Double = 1.5
    @Option(help: "Gradient threads.") var threads: Int = 2
    @Option(help: "Perturbed copies of the training cries, from voice (sox pitch +-300-400 cents, tempo 0.85-1.18), room (reverb, EQ, high-pass), codec (AMR-NB or GSM and back), comma-separated; every kind applies to every copy. Copies only ever train: never validated or tested, and dropped from a split's training part when their family is held out there.")
    var augment: String = ""
    @Option(help: "Perturbed copies per training cry (with --augment).") var augmentCopies: Int = 1
    @Option(help: "Seed of the perturbations (the same copies for every --seed).") var augmentSeed: UInt64 = 1
    @Option(help: "Folder the perturbed copies are written to and reused from.")
    var augmentDir: String = "/tmp/crymodel-augment"
    @Option(help: "A clip's decision: last (the last frame's posteriors, as the daemon decides) or mean (softmax of the mean of every frame's log-posteriors; the loss is then the mean of the frames' cross-entropies).")
    var pooling: String = "last"

    /// The augmentation kinds asked for (empty: none).
    func augmentationKinds() throws -> Set<CryAugmentation.Kind> {
        var kinds: Set<CryAugmentation.Kind> = []
        for part in augment.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let k = CryAugmentation.Kind(rawValue: part) else {
                throw TrainingCLI.usage("--augment: unknown kind '\(part)' (voice, room, codec)")
            }
            kinds.insert(k)
        }
        guard kinds.isEmpty || (1 ... 20).contains(augmentCopies) else {
            throw TrainingCLI.usage("--augment-copies must be 1...20, not \(augmentCopies)")
        }
        return kinds
    }

    /// The corpus with its perturbed training copies (`--augment`), or as it is.
    func augmented(_ corpus: Corpus, printer: TrainingProgressPrinter) throws -> Corpus {
        let kinds = try augmentationKinds()
        guard !kinds.isEmpty else { return corpus }
        let sox = try SoxAugmenter(kinds: kinds, seed: augmentSeed, directory: augmentDir)
        printer.message("augment: \(augmentCopies) copies (\(kinds.sorted().map(\.rawValue).joined(separator: "+"))\(kinds.contains(.codec) ? ", codec " + sox.codecFormat : "")) of each cry in \(augmentDir)")
        return try CryAugmentation.addingCopies(to: corpus, copies: augmentCopies, threads: threads) { try sox.make($0, copy: $1) }
    }

    /// The options that reproduce the augmentation and pooling (for printed commands).
    var augmentationArguments: [String] {
        (augment.isEmpty ? [] : ["--augment", augment, "--augment-copies", "\(augmentCopies)", "--augment-seed", "\(augmentSeed)"])
            + (pooling == "last" ? [] : ["--pooling", pooling])
    }
}

/// The training options, checked once.
struct TrainingSetup {
    var task: TrainingTask
    var cell: CellKind
    var depth: Int?
    var hidden: [Int]
    var dense: [Int]
    var frontEnd = FrontEndConfig.standard
    var options = TrainingOptions()

    init(_ c: TrainingArguments, cell: String = "attgate", depth: Int? = nil) throws {
        try self.init(task: c.task, data: c.data, cell: cell, depth: depth,
                      hidden: c.paperSizes ? "512,256" : c.hidden, dense: c.paperSizes ? "256,128" : c.dense,
                      epochs: c.epochs, batch: c.batch, lr: c.lr, beta2: c.beta2, l2: c.l2, seed: c.seed,
                      patience: c.patience, batchesPerEpoch: c.batchesPerEpoch, minCrop: c.minCrop, threads: c.threads)
        guard let p = ClipPooling(rawValue: c.pooling) else {
            throw TrainingCLI.usage("--pooling must be last or mean, not '\(c.pooling)'")
        }
        options.pooling = p
        if try !c.augmentationKinds().isEmpty && task != .cause {
            // The detector has its own channel training (detect-set --perturb-share/--room-share/--codec-share).
            throw TrainingCLI.usage("--augment perturbs the cause corpus's cries; for --task detect use detect-set --perturb-share/--room-share")
        }
    }

    init(task: String, data: [String], cell: String, depth: Int?, hidden: String, dense: String,
         epochs: Int, batch: Int, lr: Float, beta2: Float, l2: Float, seed: UInt64, patience: Int,
         batchesPerEpoch: Int?, minCrop: Double, threads: Int) throws {
        guard let t = TrainingTask(rawValue: task) else { throw TrainingCLI.usage("--task must be cause or detect, not '\(task)'") }
        guard let k = CellKind(rawValue: cell) else { throw TrainingCLI.usage("--cell must be lstm, gru or attgate, not '\(cell)'") }
        guard !data.isEmpty else { throw TrainingCLI.usage("give at least one --data DIR") }
        self.task = t
        self.cell = k
        self.depth = depth
        self.hidden = try sizes(hidden, "--hidden")
        self.dense = try sizes(dense, "--dense", allowEmpty: true)
        guard epochs >= 1 else { throw TrainingCLI.usage("--epochs must be at least 1, not \(epochs)") }
        guard batch >= 1 else { throw TrainingCLI.usage("--batch must be at least 1, not \(batch)") }
        guard lr > 0, lr.isFinite else { throw TrainingCLI.usage("--lr must be positive, not \(lr)") }
        guard beta2 > 0, beta2 < 1 else { throw TrainingCLI.usage("--beta2 must be in (0, 1), not \(beta2)") }
        guard l2 >= 0 else { throw TrainingCLI.usage("--l2 must be >= 0, not \(l2)") }
        guard threads >= 1 && threads <= 64 else { throw TrainingCLI.usage("--threads must be 1...64, not \(threads)") }
        guard minCrop > 0 else { throw TrainingCLI.usage("--min-crop must be positive, not \(minCrop)") }
        if let b = batchesPerEpoch, b < 1 { throw TrainingCLI.usage("--batches-per-epoch must be at least 1, not \(b)") }
        options.epochs = epochs
        options.batchSize = batch
        options.learningRate = lr
        options.beta2 = beta2
        options.l2 = l2
        options.seed = seed
        options.patience = patience
        options.batchesPerEpoch = batchesPerEpoch
        options.threads = threads
        options.minimumCropFrames = Int((minCrop * Double(frontEnd.sampleRate) / Double(frontEnd.hopLength)).rounded())
    }

    func modelConfiguration(classes: [String], cell: CellKind? = nil, depth: Int? = nil) throws -> ModelConfiguration {
        let k = cell ?? self.cell
        let config = ModelConfiguration(
            task: task == .cause ? .cause : .detect, classes: classes, cell: k,
            depth: depth ?? (k == self.cell ? self.depth : nil), hidden: hidden, dense: dense, frontEnd: frontEnd)
        do {
            try config.validate()
        } catch {
            throw TrainingCLI.usage("\(error)")
        }
        return config
    }
}

private func sizes(_ text: String, _ flag: String, allowEmpty: Bool = false) throws -> [Int] {
    if allowEmpty && text.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
    let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw TrainingCLI.usage("\(flag) must be comma-separated positive sizes like 128,64, not '\(text)'")
    }
    return parts.map { $0! }
}

/// Helpers of the training commands (namespaced so they never clash with other commands).
enum TrainingCLI {
    static func usage(_ message: String) -> ExitCode {
        fail(message, code: SysExit.usage)
    }

    /// sysexits code for a library error: bad data 65, unreadable files 74.
    static func sysExit(for error: any Error) -> ExitCode {
        switch error {
        case let e as CorpusError where e.problem == "not a directory": return SysExit.ioError
        case is CorpusError, is AudioFileError, is ConfigurationError: return SysExit.dataError
        default: return SysExit.dataError
        }
    }

    /// Loads a model file: unreadable 74, bad contents 65, each with the file's name.
    static func loadModel(_ path: String) throws -> CryModelFile {
        guard access(path, R_OK) == 0 else {
            throw fail("\(path): cannot open: \(String(cString: strerror(errno)))", code: SysExit.ioError)
        }
        do {
            return try CryModelFile.load(path: path)
        } catch {
            throw fail("\(error)", code: SysExit.dataError)
        }
    }

    /// Exit 74 naming the file when it cannot be read (checked before decoding it).
    static func checkReadable(_ path: String) throws {
        guard access(path, R_OK) == 0 else {
            throw fail("\(path): cannot open: \(String(cString: strerror(errno)))", code: SysExit.ioError)
        }
    }

    static func describe(_ corpus: Corpus) -> String {
        let counts = corpus.classCounts, groups = corpus.groupCounts
        let rules = corpus.rules.keys.sorted().map { "\($0): groups by \(corpus.rules[$0]!.rawValue)" }.joined(separator: "; ")
        let classes = corpus.classes.indices.map { "\(corpus.classes[$0]) \(counts[$0]) (\(groups[$0]) groups)" }.joined(separator: ", ")
        let trainOnly = corpus.clips.filter(\.trainOnly).count
        return "corpus: \(corpus.clips.count) clips" + (trainOnly > 0 ? " (\(trainOnly) train-only)" : "") + "; \(classes); \(rules)"
    }

    static func describe(_ data: PreparedCorpus) -> String {
        func part(_ name: String, _ clips: [Int]) -> String {
            var counts = [Int](repeating: 0, count: data.corpus.classes.count)
            for i in clips { counts[data.corpus.clips[i].label] += 1 }
            return "\(name) \(clips.count) clips / \(data.groups(of: clips).count) groups \(counts)"
        }
        let frames = data.features.reduce(0) { $0 + $1.frameCount }
        return "split: " + [part("train", data.split.train), part("validation", data.split.validation),
                            part("test", data.split.test)].joined(separator: "; ")
            + "; features: \(frames) frames x \(data.features.first?.featureCount ?? 0)"
    }

    static func shellQuoted(_ s: String) -> String {
        let safe = s.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,:+@".contains($0) }
        return safe && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
