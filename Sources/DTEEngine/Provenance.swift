import DTEModel
import Foundation

/// Where a plan came from: a content hash of the repository files and the git commit.
public enum Provenance {
    /// A content hash of the repository files (provenance of a saved plan): each file's name and bytes, sorted.
    public static func sourceHash(_ files: [String], root: String) -> String {
        var h = FNV1a64()
        for f in files.sorted() {
            let path = f.hasPrefix("/") ? f : (root as NSString).appendingPathComponent(f)
            h.add(f)
            h.add(FileManager.default.contents(atPath: path) ?? Data())
        }
        return "fnv1a64:" + String(h.value, radix: 16)
    }

    /// The short commit checked out in `dir`, or nil (not a git repository, git missing).
    public static func gitCommit(in dir: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir, "rev-parse", "--short", "HEAD"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        let s = String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return s.isEmpty ? nil : s
    }
}
