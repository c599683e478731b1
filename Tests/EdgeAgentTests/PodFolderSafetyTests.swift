@testable import EdgeAgent
import Foundation
import Logging
import PodWire
import Testing

/// The pod folder is written by the job (and, with `allow-run-as-user`, owned by the pod's
/// user): what the agent finds there is hostile. Status and log files that are symlinks,
/// FIFOs or garbage read as "nothing", never hang or crash the agent; a `subPath` cannot
/// lead out of its volume; the script the agent submits is never one the job could change.
@Suite struct PodFolderSafetyTests {
    static func folder(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func statusFilesThatAreFIFOsSymlinksOrGarbageReadAsUnknown() throws {
        let dir = try Self.folder("status")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo("\(dir)/run-fifo.status", 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/run-shadow.status", withDestinationPath: "/etc/shadow")
        var garbage = Data(count: 10 * 1024 * 1024)
        garbage.withUnsafeMutableBytes { raw in for i in 0..<raw.count { raw[i] = UInt8(truncatingIfNeeded: i &* 7919) } }
        try garbage.write(to: URL(fileURLWithPath: "\(dir)/run-garbage.status"))
        try Data("started=1e300\nexit=99999999999999999999999\nfinished=nan\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/run-huge.status"))
        try Data("started=-5\nexit=-1\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/run-negative.status"))
        try Data("started=100.5\nexit=3\nfinished=101\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/run-good.status"))

        let began = Date()
        for name in ["fifo", "shadow", "garbage", "huge", "negative"] {
            #expect(ContainerRecord.read(podDir: dir, prefix: "run-\(name)") == nil, "\(name)")
        }
        #expect(ContainerRecord.read(podDir: dir, prefix: "run-good") == ContainerRecord(started: 100.5, exitCode: 3, finished: 101))
        #expect(Date().timeIntervalSince(began) < 2, "reading the status files must not wait on the FIFO")

        // What the agent answers for such a pod: the containers with a readable record, the
        // rest "never started"; encodable without trapping on a time.
        let names = ["fifo", "shadow", "garbage", "huge", "negative", "good"]
        let mapping = StatusMapping(initContainers: [], containers: names.map { TrackedContainer(name: $0, image: "i") }, podDir: dir)
        let outcome = mapping.map(job: BatchJobStatus(jobID: "1", phase: .succeeded, exitCode: 0), now: 1_000,
                                  read: { ContainerRecord.read(podDir: dir, prefix: $0) },
                                  jobOutput: { PodFolder.tail(of: "\(dir)/run-fifo.status", bytes: 100) })
        #expect(outcome.containers.last?.state.terminated?.exitCode == 3)
        #expect(outcome.containers.dropLast().allSatisfy { $0.state.terminated?.reason == "NotStarted" })
        _ = try JSONEncoder().encode(outcome.containers)
    }

    @Test func logFilesThatAreSymlinksOrFIFOsAreNotRead() throws {
        let dir = try Self.folder("logs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/run-main.out", withDestinationPath: "/etc/shadow")
        #expect(mkfifo("\(dir)/run-fifo.out", 0o600) == 0)
        let began = Date()
        #expect(LogReader.read(path: "\(dir)/run-main.out", options: LogOptions(), now: 0).isEmpty)
        #expect(LogReader.read(path: "\(dir)/run-main.out", options: LogOptions(tail: 5), now: 0).isEmpty)
        #expect(AgentAPI.readFrom(path: "\(dir)/run-main.out", offset: 0).isEmpty)
        #expect(LogReader.read(path: "\(dir)/run-fifo.out", options: LogOptions(), now: 0).isEmpty)
        #expect(PodFolder.tail(of: "\(dir)/run-main.out", bytes: 100) == nil)
        #expect(Date().timeIntervalSince(began) < 2)
        // A line time no calendar holds is shown without trapping.
        try Data("1e300 far future\n-7 before 1970\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/run-times.out"))
        let text = String(decoding: LogReader.read(path: "\(dir)/run-times.out", options: LogOptions(timestamps: true), now: 0),
                          as: UTF8.self)
        #expect(text.contains("far future") && text.contains("before 1970"))
    }

    /// `Tail` on a large log reads back from the end: the bytes read are bounded by the lines
    /// asked for, not the file's size; the plain log and `Bytes` are capped.
    @Test func tailOfABigLogReadsOnlyItsEnd() throws {
        let dir = try Self.folder("biglog")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/run-main.out"
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        var block = ""
        for i in 0..<10_000 { block += "1764590000.\(String(format: "%06d", i)) line \(i) \(String(repeating: "x", count: 60))\n" }
        let data = Data(block.utf8)
        for _ in 0..<60 { handle.write(data) }  // ~50 MB
        handle.write(Data("1764590001.000000 the last line\n".utf8))
        try handle.close()

        let file = try #require(SafeFile.open(path))
        #expect(file.size > 40_000_000)
        let (offset, read) = LogReader.tailStart(file, lines: 3, maxBytes: Limits.logResponseBytes)
        #expect(read <= 65_537, "read \(read) bytes to find 3 lines")
        #expect(offset > file.size - 400)
        let tail = String(decoding: LogReader.read(path: path, options: LogOptions(tail: 3), now: 0), as: UTF8.self)
        #expect(tail.hasSuffix("line 9999 \(String(repeating: "x", count: 60))\nthe last line\n"))
        #expect(tail.split(separator: "\n").count == 3)

        // No options: at most the cap, ending with the last line, starting on a whole line.
        let capped = String(decoding: LogReader.read(path: path, options: LogOptions(), now: 0, cap: 10_000), as: UTF8.self)
        #expect(capped.utf8.count <= 10_000 && capped.hasSuffix("the last line\n") && capped.hasPrefix("line "))
        // Bytes: the first bytes of the log, read a chunk at a time.
        let first = String(decoding: LogReader.read(path: path, options: LogOptions(limitBytes: 20), now: 0), as: UTF8.self)
        #expect(first == "line 0 xxxxxxxxxxxxx")
    }

    @Test func podFolderNamesNeverCollide() {
        let builder = Fixtures.builder()
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
        #expect(builder.podDirectory(namespace: "a-b", uid: "c") != builder.podDirectory(namespace: "a", uid: "b-c"))
        #expect(builder.podDirectory(namespace: "a-b", uid: uuid) != builder.podDirectory(namespace: "a", uid: "b-" + uuid))
        #expect(builder.podDirectory(namespace: "a", uid: "b-" + uuid) != builder.podDirectory(namespace: "a-b", uid: uuid))
        // Kubernetes' UIDs keep the readable `<namespace>-<uid>` (and pods recorded before).
        #expect(builder.podDirectory(namespace: "tests", uid: uuid) == "/srv/dte/pods/tests-\(uuid)")
        #expect(builder.podDirectory(namespace: "tests", uid: "u1") == "/srv/dte/pods/tests_u1")
    }

    /// A pod recorded before the folder names changed (`tests-u1` for a UID that is not a
    /// UUID, now `tests_u1`) keeps the folder its record names.
    @Test func podsRecordedUnderTheOldFolderNameKeepTheirFolder() async throws {
        let dir = try Self.folder("oldname")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var configuration = AgentConfiguration()
        configuration.setDataDir(dir)
        let store = try PodStore.open(stateDir: dir)
        let request = try Fixtures.builder(configuration).build(
            Fixtures.pod("old", uid: "u1", containers: [Fixtures.container("main", ["true"])])).request
        let old = "\(configuration.workDir)/tests-u1"
        try store.save(PodRecord(uid: "u1", namespace: "tests", name: "old", jobID: "1", phase: .active, podDir: old,
                                 initContainers: [], containers: [TrackedContainer(name: "main", image: "")],
                                 request: request, createdAt: 0, updatedAt: 0))
        let controller = try PodController(configuration: configuration, backend: SlurmCLI(logger: Logger(label: "t")),
                                           store: store, logger: Logger(label: "t"))
        #expect(await controller.logTarget(uid: "u1", namespace: "tests", name: "old")?.podDir == old)
        #expect(controller.builder.podDirectory(namespace: "tests", uid: "u1") == "\(configuration.workDir)/tests_u1")
    }

    /// The submitted script carries the runner itself: nothing in the pod folder is executed
    /// as the job's script; a script read back for recovery must be the agent's own.
    @Test func theSubmittedScriptDependsOnNothingInThePodFolder() throws {
        let job = try Fixtures.builder().build(Fixtures.pod("inline", containers: [Fixtures.container("main", ["true"])]))
        #expect(job.batchScript.hasPrefix("#!/bin/bash\n#SBATCH "))
        #expect(job.batchScript.contains(job.runnerScript.drop { $0 != "\n" }.dropFirst()))
        #expect(!job.batchScript.contains("job.sh"))

        let dir = try Self.folder("script")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let own = "\(dir)/own.slurm"
        try Data(job.batchScript.utf8).write(to: URL(fileURLWithPath: own))
        chmod(own, 0o600)
        #expect(PodFolder.readScript(own) == job.batchScript)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link.slurm", withDestinationPath: own)
        #expect(PodFolder.readScript("\(dir)/link.slurm") == nil)
        try Data(job.batchScript.utf8).write(to: URL(fileURLWithPath: "\(dir)/writable.slurm"))
        chmod("\(dir)/writable.slurm", 0o666)
        #expect(PodFolder.readScript("\(dir)/writable.slurm") == nil)
        if geteuid() == 0 {
            try Data(job.batchScript.utf8).write(to: URL(fileURLWithPath: "\(dir)/users.slurm"))
            chown("\(dir)/users.slurm", 65534, 65534)
            #expect(PodFolder.readScript("\(dir)/users.slurm") == nil)
        }
    }

    /// CVE-2017-1002101's shape on real Slurm with bwrap: an init container plants symlinks
    /// in an emptyDir pointing out of it; a later container that mounts them by `subPath`
    /// does not start and sees nothing of the host, while an honest `subPath` still works.
    @Test func subPathSymlinksOutOfTheVolumeAreRefusedWhenBound() async throws {
        let agent = try agent()
        let work = VolumeMount(name: "work", mountPath: "/work")
        func reader(_ name: String, subPath: String, _ command: String) -> Container {
            Fixtures.container(name, ["sh", "-c", command], mounts: [VolumeMount(name: "work", mountPath: "/data", subPath: subPath)])
        }
        let pod = Fixtures.pod(
            "subpath-attack",
            initContainers: [Fixtures.container("plant", ["sh", "-c",
                "mkdir -p /work/inside && echo inside-ok > /work/inside/f && ln -s /etc /work/escape && ln -s ../../.. /work/up"],
                mounts: [work])],
            containers: [
                reader("absolute", subPath: "escape", "cat /data/passwd; echo read-host-file"),
                reader("relative", subPath: "up", "ls /data; echo listed-host-folder"),
                reader("honest", subPath: "inside", "cat /data/f"),
            ],
            volumes: [Volume(name: "work", emptyDir: EmptyDirVolumeSource())])
        let uid = pod.pod.metadata.uid
        _ = try await agent.create(pod)
        let status = try await agent.finished(uid)
        #expect(status.exitCode("plant") == 0)
        #expect(status.exitCode("honest") == 0)
        #expect(try await agent.logs(uid, "honest").1 == "inside-ok\n")
        for name in ["absolute", "relative"] {
            #expect(status.exitCode(name) == 1, "\(name)")
            let log = try await agent.logs(uid, name).1
            #expect(log.contains("leads outside its volume"), "\(name): \(log)")
            #expect(!log.contains("root:") && !log.contains("read-host-file") && !log.contains("listed-host-folder"), "\(name): \(log)")
        }
    }

    /// The window between the check and the bind is closed: the runner's own `dte_pin` (taken
    /// from a job script the builder made) opens and checks the subPath, the folder is then
    /// swapped for a symlink to /etc (what a concurrent container could do), and bwrap binds
    /// what was checked — the volume's folder, not the host's /etc — and the container holds no
    /// descriptor of it.
    @Test func aSubPathSwappedAfterItsCheckIsNotWhatGetsBound() async throws {
        let dir = try Self.folder("pin")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pod = Fixtures.pod("pin", containers: [Fixtures.container("c", ["true"])])
        let script = try Fixtures.builder().build(pod).runnerScript
        let start = try #require(script.range(of: "dte_pin() {\n"))
        let end = try #require(script.range(of: "\n}\n", range: start.upperBound..<script.endIndex))
        let function = String(script[start.lowerBound..<end.upperBound])
        try FileManager.default.createDirectory(atPath: dir + "/vol/sub", withIntermediateDirectories: true)
        try "checked\n".write(toFile: dir + "/vol/sub/f", atomically: true, encoding: .utf8)
        let test = function + """
            dte_pin m "$1/vol" "$1/vol/sub" keep || exit 9
            mv "$1/vol/sub" "$1/vol/moved" && ln -s /etc "$1/vol/sub" || exit 8
            bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --ro-bind-fd "$m" /mnt \
              sh -c 'cat /mnt/f; ls /mnt/passwd >/dev/null 2>&1 && echo HOST; n=$(ls -l /proc/self/fd | grep -c -- "-> $0"); echo "$n"' "$1/vol/moved"
            """
        let out = try await CommandRunner.run("/bin/bash", ["-c", test, "pin-test", dir])
        #expect(out.status == 0, "\(out.stdout) \(out.stderr)")
        #expect(out.stdout.hasPrefix("checked\n"), "what was checked is bound: \(out.stdout)")
        #expect(!out.stdout.contains("HOST"), "not the host's /etc: \(out.stdout)")
        #expect(out.stdout.hasSuffix("0\n"), "the container holds no descriptor of the folder: \(out.stdout)")
        // the same folder swapped *before* the check is refused
        let refused = function + """
            dte_pin m "$1/vol" "$1/vol/sub" keep
            """
        let late = try await CommandRunner.run("/bin/bash", ["-c", refused, "pin-test", dir])
        #expect(late.status == 1 && late.stderr.contains("leads outside its volume"), "\(late.stderr)")
    }

    /// A container that turns its own log into a symlink to /etc/shadow and its status file
    /// into a FIFO: the agent keeps answering, serves nothing of the host, and the pod ends.
    @Test func aPodThatPlantsSymlinksAndFIFOsInItsFolderGetsNothing() async throws {
        let agent = try TestAgent(runtime: .none)
        defer { agent.stop() }
        // The none runtime starts the container in its pod folder.
        let pod = Fixtures.pod("plants", containers: [Fixtures.container("main", ["sh", "-c",
            "echo before; rm -f run-main.out run-main.status; ln -s /etc/shadow run-main.out; mkfifo run-main.status; sleep 4"])])
        let uid = pod.pod.metadata.uid
        _ = try await agent.create(pod)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            var info = stat()
            if lstat("\(agent.podDir(uid))/run-main.status", &info) == 0, info.st_mode & S_IFMT == S_IFIFO { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let began = Date()
        let (code, log) = try await agent.logs(uid, "main")
        #expect(code == 200 && !log.contains("root:"), "\(log)")
        #expect(try await agent.logs(uid, "main", LogOptions(tail: 10)).1.isEmpty)
        _ = try await agent.status([uid])
        try await Task.sleep(for: .seconds(1))  // a poll reads the FIFO status file meanwhile
        #expect(try await agent.status([uid]).count == 1)
        // Nothing ever writes the FIFO, so a read that opened it would block for good: a bound far
        // above what a loaded machine needs (seconds) still tells a hang apart.
        #expect(Date().timeIntervalSince(began) < 60)
        let status = try await agent.finished(uid)
        #expect(status.exitCode("main") == 0)
    }
}

/// What Slurm's tools print is parsed without trusting it either.
@Suite struct SlurmOutputParsingTests {
    @Test func memoryInTRESTextNeverTraps() {
        #expect(SlurmCLI.memoryMiB("8000M") == 8000)
        #expect(SlurmCLI.memoryMiB("1.5G") == 1536)
        #expect(SlurmCLI.memoryMiB("2048K") == 2)
        #expect(SlurmCLI.memoryMiB("7999") == 7999)
        for hostile in ["1e300T", "9999999999999999999", "-5G", "nanM", "infG", "G", "", "12X"] {
            #expect(SlurmCLI.memoryMiB(hostile) == 0, "\(hostile)")
        }
    }
}
