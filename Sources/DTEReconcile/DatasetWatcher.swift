import DTEProcess
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One thing in a dataset location that can start a run: a file in a watched folder (an object
/// of a bucket, a replica of a Rucio rule for other watchers).
public struct DatasetItem: Sendable, Hashable, Codable {
    /// Unique within its location, and stable: what the state records as seen (a file's name).
    public var id: String
    /// What the run is given (`DTE_TRIGGER_FILE`): the file's absolute path, an object's URL.
    public var location: String
    public var size: Int64
    public var modified: Date

    public init(id: String, location: String, size: Int64, modified: Date) {
        self.id = id
        self.location = location
        self.size = size
        self.modified = modified
    }
}

/// What one listing of a location found.
public struct DatasetListing: Sendable {
    /// New items (not in `seen`) that stopped changing, oldest first, at most the limit asked for.
    public var ready: [DatasetItem] = []
    /// New items still changing (younger than the debounce period); taken by a later listing.
    public var waiting: [String] = []
    /// Entries left alone and why (a symlink leaving the location, a FIFO, a name too long), at most 20.
    public var ignored: [String] = []
    public var ignoredCount = 0
    /// Entries looked at.
    public var scanned = 0
    /// The location has more entries than a listing reads: the rest are looked at by none.
    public var truncated = false
    /// Where the next listing continues (a queue position for an event queue; nil for a folder,
    /// which is listed whole and compared with `seen`).
    public var cursor: String?

    public init() {}
}

/// Where a data trigger looks for new items. The GitOps loop lists it on every tick with what
/// the state recorded as seen and the cursor the previous listing returned; each item it
/// returns as ready starts one run and is then recorded as seen, so it starts no other (even
/// after a restart). A watcher for an object store (an S3 event queue, a Rucio rule's replicas)
/// implements the same: `cursor` may be its queue position, `seen` dedupes what it redelivers.
/// Listings are bounded: at most `maxEntries` entries are read, `limit` items returned.
public protocol DatasetWatcher: Sendable {
    /// The location as the policy wrote it (for messages).
    var location: String { get }
    func list(since cursor: String?, seen: Set<String>, now: Date, limit: Int) throws -> DatasetListing
    /// The ids of what is there now, at most `limit`: when a trigger is first declared these are
    /// recorded as seen and start no run (the trigger runs for what comes next).
    func existing(limit: Int) throws -> [String]
}

/// Why a location cannot be listed.
public struct DatasetWatchError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// A folder on a filesystem the loop sees: its regular files whose names match `pattern`
/// (fnmatch; names starting with `.` are skipped, as partial uploads use them), ready once
/// unchanged for `debounce` seconds by the loop's clock. Only the folder itself is read (no
/// subfolders). A symlink is followed only to a regular file inside the folder; FIFOs, sockets,
/// devices and folders are ignored (never opened), as are names longer than 255 bytes.
public struct FilesystemWatcher: DatasetWatcher {
    public var location: String
    public var folder: String
    public var pattern: String
    public var debounce: TimeInterval
    public var maxEntries: Int

    public static let defaultMaxEntries = 100_000

    public init(location: String, folder: String, pattern: String = "*", debounce: TimeInterval = 10, maxEntries: Int = defaultMaxEntries) {
        self.location = location
        self.folder = folder
        self.pattern = pattern
        self.debounce = debounce.isFinite ? min(max(debounce, 0), 86_400) : 10
        self.maxEntries = min(max(maxEntries, 1), 10_000_000)
    }

    public func existing(limit: Int) throws -> [String] {
        var all = self
        all.debounce = 0
        return try all.list(since: nil, seen: [], now: .distantFuture, limit: limit).ready.map(\.id)
    }

    public func list(since cursor: String?, seen: Set<String>, now: Date, limit: Int) throws -> DatasetListing {
        var out = DatasetListing()
        func ignore(_ name: String, _ why: String) {
            out.ignoredCount += 1
            if out.ignored.count < 20 { out.ignored.append("\(name.count > 80 ? String(name.prefix(80)) + "…" : name): \(why)") }
        }
        guard let real = realpath(folder, nil) else {
            throw DatasetWatchError(description: "cannot read the folder \(folder): \(String(cString: strerror(errno)))")
        }
        let root = String(cString: real)
        free(real)
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw DatasetWatchError(description: "cannot open the folder \(folder): \(String(cString: strerror(errno)))") }
        guard let dir = fdopendir(fd) else {
            close(fd)
            throw DatasetWatchError(description: "cannot list the folder \(folder): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var ready: [DatasetItem] = []
        while let entry = readdir(dir) {
            if out.scanned >= maxEntries {
                out.truncated = true
                break
            }
            let name = DirectoryEntry.name(entry)
            if name.hasPrefix(".") { continue }
            out.scanned += 1
            if seen.contains(name) { continue }
            guard name.utf8.count <= 255 else {
                ignore(name, "name longer than 255 bytes")
                continue
            }
            guard fnmatch(pattern, name, 0) == 0 else { continue }
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }  // gone meanwhile
            var path = root + "/" + name
            if (st.st_mode & S_IFMT) == S_IFLNK {
                guard let target = realpath(path, nil) else {
                    ignore(name, "symlink to nothing")
                    continue
                }
                let resolved = String(cString: target)
                free(target)
                guard resolved.hasPrefix(root + "/"), !resolved.dropFirst(root.count + 1).contains("/") else {
                    ignore(name, "symlink leaving the folder")
                    continue
                }
                guard stat(resolved, &st) == 0 else { continue }
                path = resolved
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                ignore(name, (st.st_mode & S_IFMT) == S_IFIFO ? "a FIFO, not a file" : (st.st_mode & S_IFMT) == S_IFDIR ? "a folder" : "not a regular file")
                continue
            }
            let modified = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
            if now.timeIntervalSince(modified) < debounce {
                if out.waiting.count < 1000 { out.waiting.append(name) }
                continue
            }
            ready.append(DatasetItem(id: name, location: path, size: Int64(st.st_size), modified: modified))
        }
        ready.sort { ($0.modified, $0.id) < ($1.modified, $1.id) }
        out.ready = Array(ready.prefix(max(0, limit)))
        return out
    }
}
