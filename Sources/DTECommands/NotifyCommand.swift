import ArgumentParser
import DTECompiler
import DTENotify
import DTEViews
import Foundation

extension DTE {
    struct Notify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "notify",
            abstract: "Check the notification sinks of dte.yaml (docs/notifications.md).",
            subcommands: [Test.self]
        )

        struct Test: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Send a test event to every sink in dte.yaml's notifications: list and say which got it.",
                discussion: """
                    The event is marked as a test in its summary; commit-status sinks set a status on --revision (default: \
                    the commit checked out). Exit status: 0 every sink got it, 1 a sink failed or none is configured, \
                    64 usage error.
                    """
            )

            @OptionGroup var location: LocationOptions
            @Option(help: ArgumentHelp("The commit the test status is set on (default: git's HEAD).", valueName: "sha"))
            var revision: String?
            @Option(help: "The result the test event reports: pending, running, success, failure or error.")
            var result: NotificationEvent.Result = .pending

            func validate() throws {
                if let revision, revision.isEmpty || revision.utf8.count > 64 || !revision.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) {
                    throw ValidationError("--revision takes a commit SHA (up to 64 characters)")
                }
            }

            func run() async throws {
                let wd = location.workingDirectory
                guard let root = RepositoryConfig.findRoot(from: wd) else {
                    throw CommandFailure("this folder is not in a DTE repository (no \(RepositoryConfig.fileName) here or above)")
                }
                let (config, diagnostics) = RepositoryConfig.load(root: root, display: RepositoryConfig.fileName)
                if diagnostics.contains(where: { $0.severity == .error }) {
                    let lines = SourceLines(base: root)
                    let view = DiagnosticView(diagnostics: diagnostics, filesChecked: 1, color: useColor(), sourceLine: { lines.line($0, $1) })
                    FileHandle.standardError.write(Data(view.text().utf8))
                    throw ExitCode(1)
                }
                guard !config.notifications.isEmpty else {
                    throw CommandFailure("dte.yaml has no notifications: list; docs/notifications.md shows how to add a webhook, GitHub or GitLab")
                }
                let rev = revision ?? Self.headCommit(in: root) ?? ""
                let event = NotificationEvent(
                    repository: (root as NSString).lastPathComponent, revision: rev, result: result,
                    summary: "Test notification from dte notify test: nothing was applied",
                    twins: [.init(twin: "twin.example", result: result, message: "a test line for one twin")]
                )
                let deliveries = await Notifier(settings: config.notifications, root: root).notify(event)
                let width = deliveries.map(\.sink.count).max() ?? 0
                for d in deliveries {
                    if let f = d.failure {
                        print("FAILED  \(d.sink.padding(toLength: width, withPad: " ", startingAt: 0))  \(f)")
                    } else {
                        print("ok      \(d.sink)")
                    }
                }
                let failed = deliveries.filter { $0.failure != nil }.count
                print("\(deliveries.count - failed) of \(deliveries.count) sink\(deliveries.count == 1 ? "" : "s") got the test event"
                      + (rev.isEmpty ? " (no git commit here: pass --revision SHA for commit statuses)" : " (revision \(rev))"))
                if failed > 0 { throw ExitCode(1) }
            }

            /// The full commit checked out in `dir` (commit-status APIs want the whole SHA), or nil.
            static func headCommit(in dir: String) -> String? {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                p.arguments = ["git", "-C", dir, "rev-parse", "--verify", "--quiet", "HEAD"]
                let out = Pipe()
                p.standardOutput = out
                p.standardError = FileHandle.nullDevice
                guard (try? p.run()) != nil else { return nil }
                let data = out.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                let s = String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                return p.terminationStatus == 0 && !s.isEmpty ? s : nil
            }
        }
    }
}

extension NotificationEvent.Result: ExpressibleByArgument {}
