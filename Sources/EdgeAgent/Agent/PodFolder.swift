import Foundation

/// Writing and removing pod folders.
enum PodFolder {
    /// Writes the pod folder from scratch: folders, volume files (secrets 0600), env files,
    /// `job.sh` and `job.slurm`.
    static func write(_ job: PodJob) throws(AgentError) {
        let fm = FileManager.default
        do {
            if fm.fileExists(atPath: job.podDir) { try fm.removeItem(atPath: job.podDir) }
            try makeDirectory(job.podDir, mode: 0o700)
            for (path, mode) in job.directories {
                try makeDirectory("\(job.podDir)/\(path)", mode: mode)
            }
            for file in job.files {
                try writeFile("\(job.podDir)/\(file.path)", file.contents, mode: file.mode)
            }
            try writeFile("\(job.podDir)/job.sh", Data(job.runnerScript.utf8), mode: 0o700)
            try writeFile("\(job.podDir)/job.slurm", Data(job.batchScript.utf8), mode: 0o700)
            if let uid = job.request.userID {
                // The job runs as another account: the folder is that account's.
                let gid = job.request.groupID ?? uid
                let paths = [job.podDir] + job.directories.map { "\(job.podDir)/\($0.path)" }
                    + job.files.map { "\(job.podDir)/\($0.path)" } + ["\(job.podDir)/job.sh", "\(job.podDir)/job.slurm"]
                for path in paths where lchown(path, uid_t(uid), gid_t(gid)) != 0 {
                    throw AgentError(.internalFailure, "cannot give \(path) to uid \(uid): \(String(cString: strerror(errno)))")
                }
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.internalFailure, "cannot write the pod folder \(job.podDir); check work-dir permissions",
                             cause: error)
        }
    }

    /// `mkdir` with `mode` (parents through FileManager only when missing).
    static func makeDirectory(_ path: String, mode: Int) throws {
        if mkdir(path, mode_t(mode)) == 0 || errno == EEXIST {
            chmod(path, mode_t(mode))
            return
        }
        guard errno == ENOENT else {
            throw AgentError(.internalFailure, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: mode])
    }

    /// Creates the file with `mode` from the start (no window with wider permissions).
    static func writeFile(_ path: String, _ data: Data, mode: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        guard fd >= 0 else { throw AgentError(.internalFailure, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        fchmod(fd, mode_t(mode))
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw AgentError(.internalFailure, "cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }

    /// Removes a pod folder, only if it lies inside the work folder.
    static func remove(_ podDir: String, workDir: String) {
        let base = PodJobBuilder.normalize(workDir)
        let target = PodJobBuilder.normalize(podDir)
        guard target.hasPrefix(base + "/"), target != base else { return }
        try? FileManager.default.removeItem(atPath: target)
    }

    /// The last `bytes` of a file, as text.
    static func tail(of path: String, bytes: Int) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(bytes) ? size - UInt64(bytes) : 0)
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
