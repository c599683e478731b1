import DTEProcess
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Read-only, bounded access to the files of one checkout. Every path stays inside the root: a
/// symbolic link is followed only when its target is inside it too, and only regular files are
/// read (a FIFO, a device or a socket is never opened for reading, so nothing blocks).
public struct RepositoryFiles: Sendable {
    /// The checkout's root, with symbolic links resolved.
    public let root: String

    /// What was found at a path.
    public enum Entry: Sendable, Equatable {
        case missing
        /// A regular file of `size` bytes (after following a link inside the root).
        case file(size: Int)
        case directory
        /// Something that is not read: why (a link out of the checkout, a FIFO, a device…).
        case refused(String)
    }

    public init(root: String) throws(QualityError) {
        guard let real = Self.realPath(root) else {
            throw QualityError(.source, "\(root): no such folder")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDir), isDir.boolValue else {
            throw QualityError(.source, "\(root): not a folder")
        }
        self.root = real
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Whether `path` (absolute, resolved) is the root or inside it.
    public func contains(_ path: String) -> Bool {
        path == root || path.hasPrefix(root == "/" ? "/" : root + "/")
    }

    /// Resolves `relative` inside the checkout: the resolved absolute path, or why it is refused.
    func resolve(_ relative: String) -> Result<String, EntryError> {
        if relative.hasPrefix("/") || relative.split(separator: "/").contains("..") {
            return .failure(.refused("\(relative): leaves the checkout"))
        }
        let joined = relative.isEmpty || relative == "." ? root : root + "/" + relative
        var st = stat()
        guard lstat(joined, &st) == 0 else { return .failure(.missing) }
        guard let real = Self.realPath(joined) else { return .failure(.missing) }
        guard contains(real) else {
            return .failure(.refused("\(relative) is a symbolic link out of the checkout (to \(real))"))
        }
        return .success(real)
    }

    enum EntryError: Error { case missing, refused(String) }

    /// What is at `relative` (a path inside the checkout, `/`-separated).
    public func entry(_ relative: String) -> Entry {
        switch resolve(relative) {
        case .failure(.missing): return .missing
        case .failure(.refused(let why)): return .refused(why)
        case .success(let real):
            var st = stat()
            guard stat(real, &st) == 0 else { return .missing }
            switch st.st_mode & S_IFMT {
            case S_IFREG: return .file(size: Int(st.st_size))
            case S_IFDIR: return .directory
            case S_IFIFO: return .refused("\(relative) is a FIFO, not a file")
            case S_IFSOCK: return .refused("\(relative) is a socket, not a file")
            case S_IFCHR, S_IFBLK: return .refused("\(relative) is a device, not a file")
            default: return .refused("\(relative) is not a regular file")
            }
        }
    }

    /// The first `limit` bytes of a regular file inside the checkout, and whether it is longer.
    /// Opened without blocking and checked again once open, so a file swapped for a FIFO or a
    /// link between the check and the read is refused too.
    public func read(_ relative: String, limit: Int) -> Result<(bytes: [UInt8], truncated: Bool), ReadRefusal> {
        let real: String
        switch resolve(relative) {
        case .failure(.missing): return .failure(ReadRefusal("\(relative): not found"))
        case .failure(.refused(let why)): return .failure(ReadRefusal(why))
        case .success(let r): real = r
        }
        let fd = open(real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadRefusal("\(relative): \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            return .failure(ReadRefusal("\(relative) is not a regular file"))
        }
        let want = max(0, limit)
        var bytes = [UInt8](repeating: 0, count: want + 1)
        var got = 0
        while got < bytes.count {
            let n = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return Glibc.read(fd, base + got, buffer.count - got)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        let truncated = got > want
        return .success((Array(bytes[0..<min(got, want)]), truncated))
    }

    /// The names in a folder inside the checkout (at most `limit`), sorted; empty when it is not one.
    public func list(_ relative: String, limit: Int = 10_000) -> [String] {
        guard case .success(let real) = resolve(relative) else { return [] }
        guard let dir = opendir(real) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while names.count < limit, let e = readdir(dir) {
            let name = DirectoryEntry.name(e)
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The first file among `candidates` (matched case-insensitively against the folder's names)
    /// in `folder`: its path relative to the root and what it is.
    public func find(in folder: String = "", names candidates: [String]) -> (path: String, entry: Entry)? {
        let listed = list(folder)
        for c in candidates {
            if let name = listed.first(where: { $0.caseInsensitiveCompare(c) == .orderedSame }) {
                let path = folder.isEmpty ? name : folder + "/" + name
                return (path, entry(path))
            }
        }
        return nil
    }
}

/// Why a file was not read.
public struct ReadRefusal: Error, Sendable, CustomStringConvertible {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
