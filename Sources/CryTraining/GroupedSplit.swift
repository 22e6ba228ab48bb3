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
public enum GroupedSplitter {
    public static func split(
        labels: [Int],
        groups: [String],
        classCount: Int,
        testFraction: Double = 0.2,
        validationFraction: Double = 0.2,
        seed: UInt64
    ) -> DataSplit {
        precondition(labels.count == groups.count)
        let index = GroupIndex(labels: labels, groups: groups, classCount: classCount)
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
}
