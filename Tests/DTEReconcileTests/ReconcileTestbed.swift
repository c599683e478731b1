import AsyncHTTPClient
import DTEApply
import DTEEngine
import DTEHooks
import DTEProviders
import DTEReconcile
import DTEState
import DTETestSupport
import Foundation

/// A real git remote (a bare repository on disk) fed from the testbed's scratch repository, a
/// SQLite state, and a `Reconciler` reaching the testbed's real `dte-agent` on the dev Slurm.
final class ReconcileBed: @unchecked Sendable {
    // mutated only from the test's own task, between ticks
    let bed: AgentTestbed
    var remote: String { bed.folder + "/remote.git" }
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let endpoint: Endpoint
    private(set) var events: [ReconcileEvent] = []
    private let lock = NSLock()

    /// Where the reconciler finds the site's agent (a test may point it at nothing).
    final class Endpoint: @unchecked Sendable {
        private let lock = NSLock()
        private var url: String
        init(_ url: String) { self.url = url }
        var value: String {
            get { lock.lock(); defer { lock.unlock() }; return url }
            set { lock.lock(); defer { lock.unlock() }; url = newValue }
        }
    }

    /// `agentArguments`: extra flags of the agent it starts (e.g. `--hold-jobs`).
    init(startingAgent: Bool = true, agentArguments: [String] = [], sync: String) throws {
        bed = try AgentTestbed(startingAgent: startingAgent && agentArguments.isEmpty)
        if startingAgent && !agentArguments.isEmpty { try bed.startAgent(arguments: agentArguments) }
        endpoint = Endpoint(bed.agentURL)
        try "version: 1\nsync: \(sync)\n".write(toFile: bed.repository + "/dte.yaml", atomically: true, encoding: .utf8)
        try git(["init", "--quiet", "--bare", "-b", "main", remote], in: bed.folder)
        try git(["init", "--quiet", "-b", "main"], in: bed.repository)
        try git(["remote", "add", "origin", remote], in: bed.repository)
    }

    func tearDown() {
        try? client.syncShutdown()
        bed.tearDown()
    }

    @discardableResult
    func git(_ args: [String], in dir: String? = nil) throws -> String {
        let r = try runCommand(URL(fileURLWithPath: "/usr/bin/env"),
                               ["git", "-c", "user.name=DTE Test", "-c", "user.email=test@example.org"] + args, in: dir ?? bed.repository)
        guard r.status == 0 else { throw GitFailure(description: "git \(args.joined(separator: " ")): \(r.err)") }
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Commits everything in the scratch repository and pushes it; the new commit id.
    @discardableResult
    func commit(_ message: String) throws -> String {
        try git(["add", "-A"])
        try git(["commit", "--quiet", "--allow-empty", "-m", message])
        try git(["push", "--quiet", "origin", "main"])
        return try git(["rev-parse", "HEAD"])
    }

    func setSync(_ sync: String) throws {
        try "version: 1\nsync: \(sync)\n".write(toFile: bed.repository + "/dte.yaml", atomically: true, encoding: .utf8)
    }

    func store() throws -> SQLiteStateStore { try SQLiteStateStore(path: bed.statePath) }

    func reconciler(clock: any EngineClock = SystemClock(), retry: RetryPolicy = RetryPolicy()) throws -> Reconciler {
        let client = self.client, endpoint = self.endpoint
        let environment = ReconcileEnvironment(
            hooks: { c, root in HookConfiguration.pipeline(model: c.model, config: c.config, root: root) },
            sites: { _, _ in
                SiteConnections(provider: { site in site == "local" ? AgentProvider(site: "local", endpoint: endpoint.value, client: client) : nil })
            })
        var settings = ApplySettings(holder: "reconcile-test")
        settings.retry = retry
        var r = Reconciler(source: .remote(url: remote, branch: "main"), cacheDirectory: bed.folder + "/cache", store: try store(),
                           environment: environment, clock: clock, settings: settings)
        r.events = { [weak self] e in self?.record(e) }
        return r
    }

    private func record(_ e: ReconcileEvent) {
        lock.lock()
        defer { lock.unlock() }
        events.append(e)
    }

    var eventCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return events.count
    }

    /// The twin's Slurm jobs as `(id, component)` in any state slurmctld remembers.
    func jobs() -> [(id: String, component: String)] {
        bed.slurmJobs().compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { return nil }
            return (String(parts[0]), String(parts[1].dropFirst(bed.twin.count + 1)))
        }
    }

    /// The Slurm state of a job (`RUNNING`, `CANCELLED`, …).
    func slurmState(_ id: String) -> String {
        let r = try? runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["squeue", "-h", "-t", "all", "-j", id, "-o", "%T"], in: NSTemporaryDirectory())
        return (r?.out ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func record(_ address: String) async throws -> ResourceRecord? {
        try await store().resource(address: "twin.\(bed.twin).\(address)")
    }
}

struct GitFailure: Error, CustomStringConvertible {
    var description: String
}
