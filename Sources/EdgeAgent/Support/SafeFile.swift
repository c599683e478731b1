import Foundation

/// Reading files in a pod folder, which the job (and so the pod's user) can write: a file
/// is opened without following a symlink (`O_NOFOLLOW`) and without waiting on a FIFO
/// (`O_NONBLOCK`), read only when `fstat` says it is a regular file, and never read past a
/// cap. Whatever else is found there reads as "nothing".
public enum SafeFile {
    /// An open regular file.
    public final class Handle {
        public let fd: Int32
        /// The size when it was opened.
        public let size: Int
        /// Owner and mode bits, for files the agent trusts only when it wrote them itself.
        public let owner: uid_t
        public let mode: mode_t

        init(fd: Int32, size: Int, owner: uid_t, mode: mode_t) {
            self.fd = fd
            self.size = size
            self.owner = owner
            self.mode = mode
        }

        deinit { close(fd) }

        /// Up to `count` bytes at `offset` (fewer at the end of the file).
        public func read(at offset: Int, count: Int) -> Data {
            guard count > 0, offset >= 0 else { return Data() }
            var data = Data(count: count)
            var done = 0
            let fd = self.fd
            data.withUnsafeMutableBytes { raw in
                guard let base = raw.baseAddress else { return }
                while done < count {
                    let n = pread(fd, base + done, count - done, off_t(offset + done))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    done += n
                }
            }
            data.count = done
            return data
        }
    }

    /// Opens `path` when it is a regular file (not a symlink, FIFO, device or folder).
    public static func open(_ path: String) -> Handle? {
        let fd = Foundation.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size >= 0 else {
            close(fd)
            return nil
        }
        return Handle(fd: fd, size: Int(info.st_size), owner: info.st_uid, mode: info.st_mode)
    }

    /// The whole file when it is regular and at most `limit` bytes; nil otherwise.
    public static func read(_ path: String, limit: Int) -> Data? {
        guard let handle = open(path), handle.size <= limit else { return nil }
        // One byte more than the cap tells a file that grew since fstat.
        let data = handle.read(at: 0, count: limit + 1)
        return data.count <= limit ? data : nil
    }

    /// The last `bytes` bytes of a regular file (all of it when shorter).
    public static func tail(_ path: String, bytes: Int) -> Data? {
        guard let handle = open(path) else { return nil }
        let start = max(0, handle.size - bytes)
        return handle.read(at: start, count: min(bytes, handle.size))
    }

    /// A file the agent wrote and now trusts again (a job script): regular, not a symlink,
    /// owned by the agent's account and writable by no one else. nil otherwise.
    public static func readOwn(_ path: String, limit: Int) -> Data? {
        guard let handle = open(path), handle.owner == geteuid(), handle.mode & 0o022 == 0,
              handle.size <= limit else { return nil }
        let data = handle.read(at: 0, count: limit + 1)
        return data.count <= limit ? data : nil
    }
}
