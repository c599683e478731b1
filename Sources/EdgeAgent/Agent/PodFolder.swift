import Foundation
import Logging

/// Writing and removing pod folders.
enum PodFolder {
    /// The agent's own copy of the script of a job that runs as another account:
    /// `<work-dir>/.scripts/<pod folder name>.slurm` (no pod folder name starts with `.`).
    static func agentScriptPath(podDir: String) -> String {
        let folder = (podDir as NSString).lastPathComponent
        let workDir = (podDir as NSString).deletingLastPathComponent
        return "\(workDir)/.scripts/\(folder).slurm"
    }

    /// Writes the pod folder from scratch: folders, volume files (secrets 0600), env files,
    /// and the job script (`job.slurm`, or the agent's own copy for another account's job).
    ///
    /// When the job runs as another account the pod folder and what is in it become that
    /// account's (its job writes status and output files there), except the script: it is
    /// kept where only the agent can write, so nothing the job's user can change is ever
    /// submitted.
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
            let scriptFolder = (job.scriptPath as NSString).deletingLastPathComponent
            if scriptFolder != job.podDir { try makeDirectory(scriptFolder, mode: 0o700) }
            try writeFile(job.scriptPath, Data(job.batchScript.utf8), mode: 0o700)
            if let uid = job.request.userID {
                // The job runs as another account: the folder is that account's (not the script).
                let owner = try Checked.exactly(uid, as: uid_t.self, "uid")
                let group = try Checked.exactly(job.request.groupID ?? uid, as: gid_t.self, "gid")
                let paths = [job.podDir] + job.directories.map { "\(job.podDir)/\($0.path)" }
                    + job.files.map { "\(job.podDir)/\($0.path)" }
                for path in paths where lchown(path, owner, group) != 0 {
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

    /// interLink's layout: the job's id in `JobID.jid`, as the plugin writes it once sbatch
    /// answered (the job's account owns it, as the rest of the folder). A failure is logged:
    /// the pod's job exists and is tracked either way.
    static func recordJobID(_ id: String, of job: PodJob, logger: Logger) {
        let path = "\(job.podDir)/JobID.jid"
        do {
            // whatever the job's account may have put there (a link) goes first: written anew, never through it
            unlink(path)
            try writeFile(path, Data(id.utf8), mode: 0o600)
            if let uid = job.request.userID {
                let owner = try Checked.exactly(uid, as: uid_t.self, "uid")
                let group = try Checked.exactly(job.request.groupID ?? uid, as: gid_t.self, "gid")
                guard lchown(path, owner, group) == 0 else { throw AgentError(.internalFailure, String(cString: strerror(errno))) }
            }
        } catch {
            logger.warning("cannot write JobID.jid", metadata: ["path": "\(path)", "error": "\(error)"])
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
        unlink(agentScriptPath(podDir: target))
    }

    /// The script the agent submitted for a job, read back (recovery after a restart): only
    /// when it is a regular file the agent owns that no one else can write; nil otherwise.
    static func readScript(_ path: String) -> String? {
        SafeFile.readOwn(path, limit: Limits.scriptBytes).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The last `bytes` of a regular file in the pod folder, as text (never a symlink or FIFO).
    static func tail(of path: String, bytes: Int) -> String? {
        SafeFile.tail(path, bytes: bytes).map { String(decoding: $0, as: UTF8.self) }
    }
}
