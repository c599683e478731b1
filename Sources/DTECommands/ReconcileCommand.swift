import ArgumentParser
import DTEApply
import DTECompiler
import DTEEngine
import DTEPlanner
import DTEReconcile
import DTEState
import DTEViews
import Foundation
import Logging
import ServiceLifecycle

extension DTE {
    struct ReconcileCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reconcile",
            abstract: "The GitOps loop: fetch a branch (or the working tree), plan, run the hooks, apply as dte.yaml's sync: allows.",
            discussion: "docs/reconcile.md explains the sync policy, drift, pins and conditions.",
            subcommands: [Run.self, StatusCommand.self],
            defaultSubcommand: Run.self
        )
    }
}

extension DTE.ReconcileCommand {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "One tick (--once) or a long-running loop (--watch); also --revision SHA to pin, --unpin.",
            discussion: """
                Exit status of --once: 0 applied, in sync or planned (sync.mode manual), 1 failed, stalled, an error, or a \
                failed revision held; 64 usage error. --watch runs until SIGTERM or SIGINT: the pause between ticks ends at \
                once, a tick under way is finished (or abandoned after 30 s, releasing the state's lock).
                """
        )

        @OptionGroup var location: LocationOptions
        @OptionGroup var stateOptions: StateOptions
        @OptionGroup var agentOptions: AgentOptions
        @Flag(help: "Run one tick and exit.") var once = false
        @Flag(help: "Run as a service: a tick every --interval until SIGTERM/SIGINT.") var watch = false
        @Option(help: ArgumentHelp("The pause between ticks with --watch (e.g. 30s, 5m), doubled after each failed tick (at most 15 m).", valueName: "duration"))
        var interval = Duration(seconds: 60, text: "60s")
        @Option(help: ArgumentHelp("The git remote to reconcile (any URL git understands: https, ssh, a path).", valueName: "url"))
        var remote: String?
        @Option(help: "The branch of --remote.") var branch = "main"
        @Flag(help: "Reconcile the working tree (-C or the current folder) instead of a remote.") var local = false
        @Flag(help: "Apply a revision whose apply failed before (otherwise it is held until the revision changes).") var retry = false
        @Option(help: ArgumentHelp("Pin the loop at this commit (a rollback); kept in the state until --unpin.", valueName: "sha"))
        var revision: String?
        @Flag(help: "Let the loop follow the branch again.") var unpin = false
        @Flag(help: "With --once: the tick's record and the status as JSON.") var json = false
        @Option(help: ArgumentHelp("Where fetched revisions are checked out (default: reconcile-cache beside the state).", valueName: "dir"))
        var cache: String?
        @Option(help: "Who applies (recorded in the history; default reconcile@host).") var holder: String?
        @Option(help: "Reconcile records kept in the state.") var keep = 50
        @Option(help: "Resources applied at once.") var parallelism = 10

        func validate() throws {
            let ticks = once || watch
            if once && watch { throw ValidationError("--once and --watch cannot be combined") }
            if !ticks && revision == nil && !unpin { throw ValidationError("say --once or --watch (or --revision SHA / --unpin alone to set the pin)") }
            if ticks && (remote == nil) == !local { throw ValidationError("say which repository: --remote URL [--branch B], or --local") }
            if let remote, let p = ReconcileSource.problem(url: remote, branch: branch) { throw ValidationError(p) }
            if let revision, !ReconcileSource.isCommitID(revision.lowercased()) {
                throw ValidationError("--revision takes a full commit id (40 hexadecimal digits; git rev-parse gives it), got \"\(revision.prefix(80))\"")
            }
            if revision != nil && unpin { throw ValidationError("--revision and --unpin cannot be combined") }
            if revision != nil && local { throw ValidationError("--revision pins a commit of --remote; --local reconciles the working tree") }
            if json && !once { throw ValidationError("--json goes with --once") }
            if interval.seconds < 1 || interval.seconds > 86_400 { throw ValidationError("--interval must be from 1 s to 24 h") }
            if keep < 1 || keep > ReconcileRecord.maxRecords { throw ValidationError("--keep must be from 1 to \(ReconcileRecord.maxRecords)") }
            if parallelism < 1 || parallelism > 10_000 { throw ValidationError("--parallelism must be from 1 to 10000") }
        }

        func run() async throws {
            let wd = location.workingDirectory
            let root = RepositoryConfig.findRoot(from: wd)
            let config = root.map { RepositoryConfig.load(root: $0, display: RepositoryConfig.fileName).0 }
            let store = try stateOptions.open(config: config, workingDirectory: wd)
            let who = holder ?? "reconcile@\(ProcessInfo.processInfo.hostName)"
            if let revision {
                try await store.setReconcilePin(ReconcilePin(revision: revision.lowercased(), who: who, at: Date()))
                print("pinned at \(revision.lowercased()): the loop applies this revision and does not move forward until dte reconcile --unpin")
            }
            if unpin {
                try await store.setReconcilePin(nil)
                print("unpinned: the loop follows the branch again")
            }
            guard once || watch else { return }
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = .info
                return h
            }
            var logger = Logger(label: "dte-reconcile")
            logger[metadataKey: "source"] = "\(remote.map { "\($0) \(branch)" } ?? "local")"
            let source: ReconcileSource
            if let remote {
                source = .remote(url: remote, branch: branch)
            } else {
                guard let root else { throw CommandFailure("--local: no dte.yaml in \(wd) or above it; run in a repository or pass -C DIR") }
                source = .local(folder: root)
            }
            let cacheDir = cache.map { SourceSet.absolute($0, relativeTo: wd) }
                ?? ((store.path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("reconcile-cache")
            let agentSettings = agentOptions.settings
            let environment = ReconcileEnvironment(
                hooks: { compilation, root in try hookPipeline(for: compilation, workingDirectory: root) },
                sites: { compilation, root in
                    let agents = try SiteAgents(sites: SiteInfo.all(in: compilation.model), settings: agentSettings, config: compilation.config,
                                                workingDirectory: wd, interactive: false)
                    return SiteConnections(provider: { agents.provider($0) }, close: { await agents.shutdown() })
                })
            var settings = ApplySettings(parallelism: parallelism, holder: who)
            settings.waitTimeout = 3600
            var reconciler = Reconciler(source: source, cacheDirectory: cacheDir, store: store, environment: environment, settings: settings)
            reconciler.keepRecords = keep
            reconciler.logger = logger
            let progressLogger = logger
            reconciler.progress = { event in progressLogger.info("\(ApplyView(color: false).line(event))") }
            let notifications = ReconcileNotifications(config: config, repository: remote ?? root ?? wd, logger: logger)
            reconciler.events = { event in
                await notifications?.send(event)
                for c in event.changes {
                    progressLogger.notice("condition changed", metadata: [
                        "subject": "\(c.subject)", "type": "\(c.after.type.rawValue)", "status": "\(c.after.status.rawValue)",
                        "reason": "\(c.after.reason)", "message": "\(c.after.message)",
                    ])
                }
            }
            if once {
                let (record, status) = try await reconciler.tick(retry: retry)
                if json {
                    print(ReconcileView.json(record: record, status: status), terminator: "")
                } else {
                    print("\(record.result): \(record.message)")
                    print(ReconcileView(status: status, records: []).text(), terminator: "")
                }
                let ok: Set<String> = [ReconcileResult.applied.rawValue, ReconcileResult.synced.rawValue, ReconcileResult.planned.rawValue]
                if !ok.contains(record.result) { throw ExitCode(1) }
                return
            }
            let service = ReconcileService(reconciler: reconciler, backoff: Backoff(interval: interval.seconds), retryFirst: retry)
            var groupConfig = ServiceGroupConfiguration(services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint],
                                                        logger: logger)
            groupConfig.maximumGracefulShutdownDuration = .seconds(30)
            logger.info("reconcile loop starting", metadata: ["interval_seconds": "\(Int(interval.seconds))", "state": "\(store.path)"])
            try await ServiceGroup(configuration: groupConfig).run()
        }
    }

    struct StatusCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "The repository's and each twin's conditions (Ready, Reconciling, Stalled), revisions, pin and last ticks."
        )
        @OptionGroup var location: LocationOptions
        @OptionGroup var stateOptions: StateOptions
        @Flag(help: "As JSON.") var json = false
        @Option(help: "How many of the last ticks to show.") var records = 10

        func run() async throws {
            let store = try openState(location, stateOptions)
            let view = try await ReconcileView.load(from: store, records: records)
            print(json ? view.json() : view.text(), terminator: "")
        }
    }
}
