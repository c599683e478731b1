import DTEReconcile
import Foundation
import Testing

/// The folder watcher of data triggers on a real filesystem, with what a hostile folder holds.
@Suite("DatasetWatcher")
struct DatasetWatcherTests {
    struct Folder {
        let path = NSTemporaryDirectory() + "dte-watch-" + UUID().uuidString.prefix(8)
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        func remove() { try? FileManager.default.removeItem(atPath: path) }
        func file(_ name: String, _ text: String = "x", modified: Date? = nil) throws {
            try text.write(toFile: path + "/" + name, atomically: false, encoding: .utf8)
            if let modified { try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: path + "/" + name) }
        }
    }

    let later = Date().addingTimeInterval(3600)

    @Test("new matching regular files are ready once stable, oldest first; seen ones, dotfiles and other names are left out")
    func ready() throws {
        let f = try Folder()
        defer { f.remove() }
        let now = Date()
        try f.file("b.nc", modified: now.addingTimeInterval(-100))
        try f.file("a.nc", modified: now.addingTimeInterval(-200))
        try f.file("seen.nc", modified: now.addingTimeInterval(-300))
        try f.file("growing.nc", modified: now.addingTimeInterval(-2))
        try f.file(".partial.nc", modified: now.addingTimeInterval(-500))
        try f.file("notes.txt", modified: now.addingTimeInterval(-500))
        let w = FilesystemWatcher(location: f.path, folder: f.path, pattern: "*.nc", debounce: 10)
        let l = try w.list(since: nil, seen: ["seen.nc"], now: now, limit: 10)
        #expect(l.ready.map(\.id) == ["a.nc", "b.nc"])
        #expect(l.ready.first?.location == (f.path as NSString).resolvingSymlinksInPath + "/a.nc")
        #expect(l.waiting == ["growing.nc"], "still being written")
        #expect(try w.list(since: nil, seen: [], now: now, limit: 1).ready.map(\.id) == ["seen.nc"], "the limit keeps the oldest")
        #expect(Set(try w.existing(limit: 100)) == ["a.nc", "b.nc", "seen.nc", "growing.nc"])
    }

    @Test("symlinks leaving the folder, FIFOs, sockets and folders are reported and never opened; a symlink to a file inside counts")
    func hostileEntries() throws {
        let f = try Folder()
        defer { f.remove() }
        try f.file("real.dat", modified: Date().addingTimeInterval(-100))
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: f.path + "/out.dat", withDestinationPath: "/etc/passwd")
        try fm.createSymbolicLink(atPath: f.path + "/up.dat", withDestinationPath: "../")
        try fm.createSymbolicLink(atPath: f.path + "/dangling.dat", withDestinationPath: f.path + "/nothing")
        try fm.createSymbolicLink(atPath: f.path + "/inside.dat", withDestinationPath: "real.dat")
        #expect(mkfifo(f.path + "/pipe.dat", 0o600) == 0, "a FIFO: opening it would block for ever")
        try fm.createDirectory(atPath: f.path + "/sub.dat", withIntermediateDirectories: false)
        let w = FilesystemWatcher(location: f.path, folder: f.path, pattern: "*.dat", debounce: 0)
        let l = try w.list(since: nil, seen: [], now: later, limit: 100)
        #expect(Set(l.ready.map(\.id)) == ["real.dat", "inside.dat"], "\(l.ready)")
        #expect(l.ignoredCount == 5, "\(l.ignored)")
        #expect(l.ignored.contains { $0.hasPrefix("out.dat: symlink leaving the folder") })
        #expect(l.ignored.contains { $0.hasPrefix("pipe.dat: a FIFO") })
        #expect(l.ignored.contains { $0.hasPrefix("sub.dat: a folder") })
        #expect(throws: DatasetWatchError.self) { try FilesystemWatcher(location: "x", folder: f.path + "/missing").list(since: nil, seen: [], now: later, limit: 1) }
    }

    @Test("10,000 files: a listing of seen files is fast (well under 50 ms), a bound on entries is kept and said")
    func manyFiles() throws {
        let f = try Folder()
        defer { f.remove() }
        for i in 0..<10_000 { FileManager.default.createFile(atPath: f.path + "/s-\(i).nc", contents: nil) }
        let w = FilesystemWatcher(location: f.path, folder: f.path, pattern: "*.nc", debounce: 0)
        let all = try w.existing(limit: 100_000)
        #expect(all.count == 10_000)
        let seen = Set(all)
        var times: [Double] = []
        for _ in 0..<15 {
            let start = DispatchTime.now().uptimeNanoseconds
            let l = try w.list(since: nil, seen: seen, now: later, limit: 1)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            #expect(l.ready.isEmpty && l.scanned == 10_000)
        }
        let median = times.sorted()[times.count / 2]
        print("listing 10,000 seen files: median \(String(format: "%.2f", median)) ms")
        #expect(median < 50, "median \(median) ms")
        let bounded = FilesystemWatcher(location: f.path, folder: f.path, pattern: "*.nc", debounce: 0, maxEntries: 1000)
        let l = try bounded.list(since: nil, seen: [], now: later, limit: 5)
        #expect(l.truncated && l.scanned == 1000 && l.ready.count == 5)
    }
}
