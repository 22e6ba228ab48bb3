/// Clip indices of the three parts of a grouped split. No group has clips in two parts.
public struct DataSplit: Sendable, Equatable {
    public var train: [Int]
    public var validation: [Int]
    public var test: [Int]

    public init(train: [Int], validation: [Int], test: [Int]) {
        self.train = train
        self.validation = validation
        self.test = test
    }
}

/// Splits clips by group, stratified by class as far as the groups allow.
///
/// Groups are assigned class by class, rarest class (fewest groups) first, so that rare
/// classes get their pick before the common ones fill the parts. For a class with n groups
/// (some may already be placed because a group can hold clips of several classes):
///
///     test target       = max(round(n * testFraction),       n >= 2 ? 1 : 0)
///     validation target = max(round(n * validationFraction), n >= 3 ? 1 : 0)
///     train keeps at least one group whenever n >= 2
///
/// A fraction of 0 gives that part nothing (then validation's floor needs only n >= 2):
/// `testFraction: 0` is the inner train/validation split of a cross-validation fold.
///
/// and its unplaced groups, in a seeded shuffle of their sorted ids, fill test, then
/// validation, then train. The result depends only on the clips and the seed.
///
/// `sources` (optional, one per clip: the folder a clip came from, e.g. `dog_bark` or
/// `baby_laugh` inside the detector's class `other`) stratifies within a class: the
/// shuffled groups are interleaved so that each source gives its share to every part
/// (systematic sampling: a group at position i of its source's n groups is ranked
/// (i + 0.5) / n), and the groups of a source with at most `rareSourceGroups` recordings go
/// last, so they stay in training while the class has other groups to hold out. Without it,
/// two laughing babies in a corpus of 400 recordings would land in validation or test as
/// often as not and the detector would never fit laughter. A class with a single source
/// is split exactly as without `sources`.
public enum GroupedSplitter {
    public static let rareSourceGroups = 2

    public static func split(
        labels: [Int],
        groups: [String],
        classCount: Int,
        testFraction: Double = 0.2,
        validationFraction: Double = 0.2,
        sources: [String]? = nil,
        seed: UInt64
    ) -> DataSplit {
        precondition(labels.count == groups.count)
        precondition(sources == nil || sources!.count == labels.count)
        let index = GroupIndex(labels: labels, groups: groups, classCount: classCount)
        let sourceOfGroup = sources.map { index.mainSource(of: $0) }
        var rng = SeededGenerator(seed: seed ^ 0x5EED_5B17)
        // part[g]: 0 train, 1 validation, 2 test, -1 unplaced
        var part = [Int](repeating: -1, count: index.names.count)
        for c in index.classesRarestFirst {
            let members = index.groupsOfClass[c]
            let n = members.count
            guard n > 0 else { continue }
            // A part with fraction 0 gets nothing (e.g. an inner train/validation split).
            let testFloor = testFraction > 0 && n >= 2 ? 1 : 0
            let valFloor = validationFraction > 0 && n >= 3 - (testFraction > 0 ? 0 : 1) ? 1 : 0
            var testTarget = max(Int((Double(n) * testFraction).rounded()), testFloor)
            var valTarget = max(Int((Double(n) * validationFraction).rounded()), valFloor)
            if n >= 2 {   // leave train at least one group
                while testTarget + valTarget > n - 1 {
                    if valTarget > valFloor { valTarget -= 1 } else if testTarget > 0 { testTarget -= 1 } else { valTarget -= 1 }
                }
            }
            var inTest = members.filter { part[$0] == 2 }.count
            var inVal = members.filter { part[$0] == 1 }.count
            var free = members.filter { part[$0] == -1 }
            rng.shuffle(&free)
            if let sourceOfGroup { free = stratifiedBySource(free, members: members, sourceOfGroup: sourceOfGroup) }
            for g in free {
                if inTest < testTarget {
                    part[g] = 2; inTest += 1
                } else if inVal < valTarget {
                    part[g] = 1; inVal += 1
                } else {
                    part[g] = 0
                }
            }
        }
        var result = DataSplit(train: [], validation: [], test: [])
        for (i, g) in index.groupOfClip.enumerated() {
            switch part[g] {
            case 2: result.test.append(i)
            case 1: result.validation.append(i)
            default: result.train.append(i)
            }
        }
        return result
    }

    /// `free` (shuffled) reordered for `split`'s `sources` rule: the position of a group among
    /// its source's free groups, as a share of the source's size in the class, then rare
    /// sources last. A stable sort, so one source keeps the shuffled order.
    static func stratifiedBySource(_ free: [Int], members: [Int], sourceOfGroup: [String]) -> [Int] {
        var sizeInClass: [String: Int] = [:]
        for g in members { sizeInClass[sourceOfGroup[g], default: 0] += 1 }
        guard sizeInClass.count > 1 else { return free }
        var seen: [String: Int] = [:]
        let keyed = free.enumerated().map { (order, g) -> (rare: Bool, rank: Double, order: Int, group: Int) in
            let s = sourceOfGroup[g]
            let i = seen[s, default: 0]
            seen[s] = i + 1
            let n = sizeInClass[s]!
            return (n <= rareSourceGroups, (Double(i) + 0.5) / Double(n), order, g)
        }
        return keyed.sorted { ($0.rare ? 1 : 0, $0.rank, $0.order) < ($1.rare ? 1 : 0, $1.rank, $1.order) }.map(\.group)
    }

    /// Grouped, class-stratified k-fold: `folds[i]` is the i-th fold's clip indices; the
    /// folds are disjoint, cover every clip, and no group is in two folds. Classes are
    /// placed rarest first; each unplaced group goes to the fold holding the fewest groups
    /// of that class (ties: fewest clips, then lowest index), in a seeded order.
    public static func kFold(
        labels: [Int],
        groups: [String],
        classCount: Int,
        k: Int,
        seed: UInt64
    ) -> [[Int]] {
        precondition(k >= 2 && labels.count == groups.count)
        let index = GroupIndex(labels: labels, groups: groups, classCount: classCount)
        var rng = SeededGenerator(seed: seed ^ 0xF01D_5EED)
        var fold = [Int](repeating: -1, count: index.names.count)
        var foldClips = [Int](repeating: 0, count: k)
        for c in index.classesRarestFirst {
            let members = index.groupsOfClass[c]
            var perFold = [Int](repeating: 0, count: k)
            for g in members where fold[g] >= 0 { perFold[fold[g]] += 1 }
            var free = members.filter { fold[$0] == -1 }
            rng.shuffle(&free)
            for g in free {
                let f = (0..<k).min { (perFold[$0], foldClips[$0], $0) < (perFold[$1], foldClips[$1], $1) }!
                fold[g] = f
                perFold[f] += 1
                foldClips[f] += index.clipCount[g]
            }
        }
        var folds = [[Int]](repeating: [], count: k)
        for (i, g) in index.groupOfClip.enumerated() { folds[fold[g]].append(i) }
        return folds
    }
}

/// Groups as dense indices, with the groups of each class.
struct GroupIndex {
    var names: [String]          // sorted group ids
    var groupOfClip: [Int]
    var groupsOfClass: [[Int]]   // sorted group indices per class
    var clipCount: [Int]
    var classesRarestFirst: [Int]

    init(labels: [Int], groups: [String], classCount: Int) {
        names = Array(Set(groups)).sorted()
        let id = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        groupOfClip = groups.map { id[$0]! }
        var sets = [Set<Int>](repeating: [], count: classCount)
        clipCount = [Int](repeating: 0, count: names.count)
        for (label, g) in zip(labels, groupOfClip) {
            sets[label].insert(g)
            clipCount[g] += 1
        }
        groupsOfClass = sets.map { $0.sorted() }
        let counts = groupsOfClass.map(\.count)
        classesRarestFirst = (0..<classCount).sorted { (counts[$0], $0) < (counts[$1], $1) }
    }

    /// Each group's source: the one most of its clips come from (ties: the first in sort order).
    func mainSource(of sources: [String]) -> [String] {
        var tally = [[String: Int]](repeating: [:], count: names.count)
        for (g, s) in zip(groupOfClip, sources) { tally[g][s, default: 0] += 1 }
        return tally.map { t in t.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? "" }
    }
}
