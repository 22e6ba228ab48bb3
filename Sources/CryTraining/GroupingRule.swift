/// Which recordings belong together and must never be split across train and test.
///
/// Auto-detection (`GroupingRule.detect`) looks first at the corpus folder's name, then at
/// the shape of its file names:
/// - folder `donateacry`, or names starting with a UUID (8-4-4-4-12 hex): `.donateACry`;
/// - folder `esc10`/`esc50`, or names `fold-FreesoundID-take.wav` (digits-digits-letters): `.esc`;
/// - folder `giulbia`, or names containing `.m4a_` or ending in `_N.wav`: `.sourceRecording`;
/// - otherwise `.fileName`: every file is its own group (no leakage protection).
public enum GroupingRule: String, Sendable, CaseIterable, Codable {
    /// Donate-a-Cry: the first 36 characters (the app-install UUID: one family/baby).
    case donateACry = "donateacry"
    /// ESC-10/ESC-50 `fold-FreesoundID-take`: the Freesound id (one source recording).
    case esc = "esc"
    /// giulbia's cut recordings `NAME.m4a_N.wav` or `NAME_N.wav`: NAME (the source recording).
    case sourceRecording = "source-recording"
    /// Fallback: the whole file name without extension; every file is its own group.
    case fileName = "file-name"

    /// The group id of a file under this rule; `fileName` is the last path component.
    public func group(forFileName fileName: String) -> String {
        let stem = Self.stem(fileName)
        switch self {
        case .donateACry:
            return stem.count >= 36 ? String(stem.prefix(36)).lowercased() : stem
        case .esc:
            let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
            return parts.count == 3 ? String(parts[1]) : stem
        case .sourceRecording:
            if let range = stem.range(of: ".m4a") {
                return String(stem[..<range.lowerBound])
            }
            if let underscore = stem.lastIndex(of: "_"),
               !stem[stem.index(after: underscore)...].isEmpty,
               stem[stem.index(after: underscore)...].allSatisfy(\.isASCIIDigit) {
                return String(stem[..<underscore])
            }
            return stem
        case .fileName:
            return stem
        }
    }

    /// Picks the rule for one corpus folder from its name, then from its files' names
    /// (a rule is picked by shape only when every file matches it).
    public static func detect(folderName: String, fileNames: [String]) -> GroupingRule {
        let folder = folderName.lowercased()
        if folder.hasPrefix("donateacry") || folder.hasPrefix("donate-a-cry") { return .donateACry }
        if folder.hasPrefix("esc10") || folder.hasPrefix("esc50") || folder.hasPrefix("esc-") { return .esc }
        if folder.hasPrefix("giulbia") { return .sourceRecording }
        guard !fileNames.isEmpty else { return .fileName }
        let stems = fileNames.map(stem)
        if stems.allSatisfy(looksLikeDonateACry) { return .donateACry }
        if stems.allSatisfy(looksLikeESC) { return .esc }
        if stems.allSatisfy(looksLikeCutRecording) { return .sourceRecording }
        return .fileName
    }

    static func stem(_ fileName: String) -> String {
        let name = fileName.split(separator: "/").last.map(String.init) ?? fileName
        if name.lowercased().hasSuffix(".wav") { return String(name.dropLast(4)) }
        return name
    }

    static func looksLikeDonateACry(_ stem: String) -> Bool {
        let chars = Array(stem.prefix(36))
        guard chars.count == 36 else { return false }
        for (i, c) in chars.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                if c != "-" { return false }
            } else if !c.isHexDigit {
                return false
            }
        }
        return true
    }

    static func looksLikeESC(_ stem: String) -> Bool {
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 3
            && !parts[0].isEmpty && parts[0].allSatisfy(\.isASCIIDigit)
            && !parts[1].isEmpty && parts[1].allSatisfy(\.isASCIIDigit)
            && !parts[2].isEmpty && parts[2].allSatisfy(\.isLetter)
    }

    static func looksLikeCutRecording(_ stem: String) -> Bool {
        if stem.contains(".m4a") { return true }
        guard let underscore = stem.lastIndex(of: "_") else { return false }
        let tail = stem[stem.index(after: underscore)...]
        return !tail.isEmpty && tail.allSatisfy(\.isASCIIDigit) && underscore != stem.startIndex
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
