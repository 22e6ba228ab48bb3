import Foundation

/// `<package root>/../shared/data`, or nil (tests that need it skip with a message).
/// A git worktree one level deeper (`wt/<name>`) also finds `<root>/../../shared/data`.
func sharedDataDirectory() -> String? {
    let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    for up in 1...2 {
        var dir = root
        for _ in 0..<up { dir = dir.deletingLastPathComponent() }
        let data = dir.appendingPathComponent("shared/data").path
        if FileManager.default.fileExists(atPath: data) { return data }
    }
    return nil
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "crytraining-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Empty files at `<root>/<relative path>`: the corpus loader only looks at names.
func touch(_ root: String, _ relativePaths: [String]) throws {
    let fm = FileManager.default
    for rel in relativePaths {
        let path = root + "/" + rel
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = fm.createFile(atPath: path, contents: Data())
    }
}
