import Foundation

/// One labelled recording of a corpus.
public struct Clip: Sendable, Equatable {
    /// Full path of the WAV file.
    public var path: String
    /// Index into `Corpus.classes`.
    public var label: Int
    /// Group id (see `GroupingRule`), prefixed with the corpus folder so that groups of two
    /// corpora never merge by accident.
    public var group: String
    /// The folder the clip was found in: `<class>/<source>/*.wav` gives the source folder,
    /// a flat `<class>/*.wav` the class folder. The split spreads each source over its parts
    /// (`GroupedSplitter`), so a rare kind of sound inside a class is not held out whole.
    public var source: String
    /// From a `--train-only` corpus: used for training when its group is not tested or
    /// validated, never scored (its labels are unverified).
    public var trainOnly = false

    public init(path: String, label: Int, group: String, source: String = "", trainOnly: Bool = false) {
        self.path = path
        self.label = label
        self.group = group
        self.source = source
        self.trainOnly = trainOnly
    }

    public var fileName: String { (path as NSString).lastPathComponent }
}

/// What the model is trained to say.
public enum TrainingTask: String, Sendable, CaseIterable {
    /// The class is the clip's folder name (`donateacry/<cause>/*.wav`).
    case cause
    /// Two classes, `cry` and `not_cry`: a folder is `cry` when its name contains "cry"
    /// (`baby_cry`, `crying_baby_own`) or is one of the Donate-a-Cry causes
    /// (`TrainingTask.causeNames`); every other folder is `not_cry`.
    case detect

    public static let causeNames: Set<String> = ["hungry", "tired", "belly_pain", "discomfort", "burping"]
    public static let detectClasses = ["cry", "not_cry"]

    func className(forFolder folder: String) -> String {
        switch self {
        case .cause:
            // The cleaned Donate-a-Cry edition files cold/hot under discomfort; the raw uploads keep it apart.
            return folder == "cold_hot" ? "discomfort" : folder
        case .detect:
            let f = folder.lowercased()
            return f.contains("cry") || Self.causeNames.contains(f) ? "cry" : "not_cry"
        }
    }
}

public struct CorpusError: Error, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}

/// The clips of one or more corpus folders laid out as `<dir>/<class>/*.wav`.
public struct Corpus: Sendable {
    /// Class names, sorted, so that the same folders give the same class indices.
    public var classes: [String]
    /// Clips sorted by class, then path (deterministic whatever the file system's order).
    public var clips: [Clip]
    /// The grouping rule used for each corpus folder (path -> rule), for the report.
    public var rules: [String: GroupingRule]

    public init(classes: [String], clips: [Clip], rules: [String: GroupingRule] = [:]) {
        self.classes = classes
        self.clips = clips
        self.rules = rules
    }

    /// Loads every `<dir>/<class>/*.wav` and `<dir>/<class>/<source>/*.wav` of each directory
    /// (one level of source folders, as `crymodel detect-set` writes them).
    /// - `rule`: forces a grouping rule; nil picks one per directory (`GroupingRule.detect`).
    /// - `classes`: forces the class list and order (e.g. a model's); folders whose class is
    ///   not in it are an error. Nil: the sorted classes found (for `.detect`, the two classes).
    public static func load(
        directories: [String],
        task: TrainingTask = .cause,
        rule: GroupingRule? = nil,
        classes: [String]? = nil,
        dropOtherClasses: Bool = false
    ) throws -> Corpus {
        let fm = FileManager.default
        var found: [(path: String, className: String, group: String, source: String)] = []
        var rules: [String: GroupingRule] = [:]
        guard !directories.isEmpty else {
            throw CorpusError(path: "--data", problem: "no corpus directory given")
        }
        for dir in directories {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw CorpusError(path: dir, problem: "not a directory")
            }
            let folders = try fm.contentsOfDirectory(atPath: dir).sorted().filter { name in
                var sub: ObjCBool = false
                return !name.hasPrefix(".")
                    && fm.fileExists(atPath: dir + "/" + name, isDirectory: &sub) && sub.boolValue
            }
            // folder: the class folder; sub: "" or its source folder.
            var files: [(folder: String, sub: String, name: String)] = []
            func wavs(in path: String) throws -> [String] {
                try fm.contentsOfDirectory(atPath: path).filter { $0.lowercased().hasSuffix(".wav") && !$0.hasPrefix(".") }.sorted()
            }
            for folder in folders {
                let classPath = dir + "/" + folder
                files += try wavs(in: classPath).map { (folder, "", $0) }
                for sub in try fm.contentsOfDirectory(atPath: classPath).sorted() where !sub.hasPrefix(".") {
                    var isSub: ObjCBool = false
                    guard fm.fileExists(atPath: classPath + "/" + sub, isDirectory: &isSub), isSub.boolValue else { continue }
                    files += try wavs(in: classPath + "/" + sub).map { (folder, sub, $0) }
                }
            }
            if files.isEmpty {
                throw CorpusError(path: dir, problem: "no <class>/*.wav files")
            }
            let base = ((dir as NSString).standardizingPath as NSString).lastPathComponent
            let chosen = rule ?? GroupingRule.detect(folderName: base, fileNames: files.map(\.name))
            rules[dir] = chosen
            // One family across Donate-a-Cry folders (donateacry/ and donateacry_extra/ share
            // families): their groups get the rule's name as prefix, not the folder's.
            let prefix = chosen == .donateACry ? GroupingRule.donateACry.rawValue : base
            let excluded = try Self.manifestExclusions(dir)
            for (folder, sub, name) in files {
                if excluded.contains(folder + "/" + (sub.isEmpty ? "" : sub + "/") + name) { continue }
                found.append((
                    path: dir + "/" + folder + "/" + (sub.isEmpty ? "" : sub + "/") + name,
                    className: task.className(forFolder: folder),
                    group: prefix + ":" + chosen.group(forFileName: name),
                    source: sub.isEmpty ? folder : sub
                ))
            }
        }
        let classList: [String]
        if let classes {
            classList = classes
            if dropOtherClasses { found = found.filter { classes.contains($0.className) } }
            if let stray = found.first(where: { !classes.contains($0.className) }) {
                throw CorpusError(
                    path: stray.path,
                    problem: "class '\(stray.className)' is not one of the model's classes \(classes)")
            }
        } else if task == .detect {
            classList = TrainingTask.detectClasses
        } else {
            classList = Array(Set(found.map(\.className))).sorted()
        }
        let index = Dictionary(uniqueKeysWithValues: classList.enumerated().map { ($1, $0) })
        let clips = found
            .map { Clip(path: $0.path, label: index[$0.className]!, group: $0.group, source: $0.source) }
            .sorted { ($0.label, $0.path) < ($1.label, $1.path) }
        return Corpus(classes: classList, clips: clips, rules: rules)
    }

    /// Files a corpus folder's `manifest.csv` (columns include `file` and `flags`, as in
    /// `shared/data/donateacry_extra/`) flags as not holding a usable cry: `silent`, `quiet`,
    /// `short` or `empty`. Paths relative to the folder. No manifest: nothing excluded.
    public static let excludedManifestFlags: Set<String> = ["silent", "quiet", "short", "empty"]

    static func manifestExclusions(_ dir: String) throws -> Set<String> {
        let path = dir + "/manifest.csv"
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CorpusError(path: path, problem: "cannot read: \(error)")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first, let fileColumn = header.firstIndex(of: "file"), let flagColumn = header.firstIndex(of: "flags") else {
            throw CorpusError(path: path, problem: "expected a header with 'file' and 'flags' columns")
        }
        var out: Set<String> = []
        for cells in lines.dropFirst() where cells.count > max(fileColumn, flagColumn) {
            let flags = Set(cells[flagColumn].split(separator: " ").map(String.init))
            if !flags.isDisjoint(with: excludedManifestFlags) { out.insert(cells[fileColumn]) }
        }
        return out
    }

    /// The grouped split, stratified by class and, within a class, by source folder
    /// (`GroupedSplitter.split`).
    public func groupedSplit(testFraction: Double = 0.2, validationFraction: Double = 0.2, seed: UInt64) -> DataSplit {
        GroupedSplitter.split(
            labels: clips.map(\.label), groups: clips.map(\.group), classCount: classes.count,
            testFraction: testFraction, validationFraction: validationFraction, sources: clips.map(\.source), seed: seed)
    }

    /// Clip counts per class.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes.count)
        for clip in clips { counts[clip.label] += 1 }
        return counts
    }

    /// Distinct groups per class.
    public var groupCounts: [Int] {
        var sets = [Set<String>](repeating: [], count: classes.count)
        for clip in clips { sets[clip.label].insert(clip.group) }
        return sets.map(\.count)
    }
}
