import ArgumentParser
import DTECompiler
import DTEModel
import DTEPlanner
import DTEState
import DTEViews
import Foundation

extension DTE {
    struct Graph: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the twins' dependency graph: components by twin, their order and data, where each is placed.",
            discussion: """
                Graphviz DOT by default (like terraform graph; draw it with `dot -Tsvg`, or `-o FILE.svg` when dot is \
                installed), or --format text for a tree in the terminal. Arrows point from what happens first to what \
                waits for it: `after` (solid), `uses` and `produces` (dashed). Each component shows the site and partition \
                a plan would place it on and, when the state records it, its job and status. \
                Exit status: 0 printed, 1 invalid repository, unknown twin or failed drawing, 64 usage error.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case dot, text }

        @OptionGroup var source: SourceOptions
        @OptionGroup var stateOptions: StateOptions
        @Option(help: "Output format: dot or text.") var format: Format = .dot
        @Option(name: .customLong("twin"), help: "Only this twin (repeatable).") var twins: [String] = []
        @Option(name: [.short, .customLong("output")],
                help: ArgumentHelp("Write to FILE; .svg, .png or .pdf are drawn with Graphviz's dot.", valueName: "file"))
        var output: String?

        func run() async throws {
            let wd = source.workingDirectory
            let c = source.compile()
            if !c.isValid {
                let lines = SourceLines(base: wd)
                let view = DiagnosticView(diagnostics: c.diagnostics, filesChecked: c.files.count, color: useColor(),
                                          sourceLine: { lines.line($0, $1) })
                FileHandle.standardError.write(Data(view.text().utf8))
                throw ExitCode(1)
            }
            let snapshot = try await recordedState(config: c.config, workingDirectory: wd)
            let (desired, _) = DesiredState.build(from: c.model, used: DesiredState.allocationUse(of: snapshot?.resources ?? []))
            var placements: [String: String] = [:]
            for r in desired.resources { placements[r.address] = "\(r.placement.site)/\(r.placement.partition)" }
            let sites = Dictionary(desired.resources.map { ($0.address, $0.placement.site) }, uniquingKeysWith: { a, _ in a })
            var recorded: [String: String] = [:]
            for r in snapshot?.resources ?? [] {
                recorded[r.address] = (r.jobID.map { "job \($0)" } ?? "no job") + (r.status.map { ", \($0)" } ?? "")
                    + (sites[r.address] == r.site ? "" : " on \(r.site)")
            }
            var graph = TwinGraph.build(model: c.model, placements: placements, recorded: recorded)
            if !twins.isEmpty {
                let known = graph.twins.map(\.name)
                for t in twins where !known.contains(t) {
                    let close = closestMatch(to: t, in: known).map { "did you mean \($0)? " } ?? ""
                    throw CommandFailure("--twin \(t): no such twin; \(close)twins: \(known.joined(separator: ", "))")
                }
                graph = graph.only(twins: Set(twins))
            }
            let view = GraphView(graph: graph)
            let text = format == .text ? view.text() : view.dot()
            guard let output else {
                print(text, terminator: "")
                return
            }
            try write(text, to: SourceSet.absolute(output, relativeTo: wd))
        }

        /// The state, when there is one (graph never creates it).
        func recordedState(config: RepositoryConfig?, workingDirectory: String) async throws -> StateSnapshot? {
            let path = stateOptions.path(config: config, workingDirectory: workingDirectory)
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            return try await stateOptions.open(config: config, workingDirectory: workingDirectory).snapshot()
        }

        /// Writes the graph; an image extension is drawn with `dot` (DOT only).
        func write(_ text: String, to path: String) throws {
            let ext = (path as NSString).pathExtension.lowercased()
            guard ["svg", "png", "pdf"].contains(ext) else {
                do {
                    try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                } catch {
                    throw CommandFailure("cannot write \(output ?? path): \(error.localizedDescription)")
                }
                return
            }
            guard format == .dot else { throw CommandFailure("-o \(output ?? path): a .\(ext) file is drawn from DOT; drop --format text") }
            let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            guard let dot = searchPath.split(separator: ":").map({ "\($0)/dot" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw CommandFailure("drawing \(output ?? path) needs Graphviz's dot, which is not installed; write DOT with -o graph.dot, or install graphviz")
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: dot)
            p.arguments = ["-T\(ext)", "-o", path]
            let input = Pipe(), errors = Pipe()
            p.standardInput = input
            p.standardError = errors
            do {
                try p.run()
            } catch {
                throw CommandFailure("cannot run \(dot): \(error.localizedDescription)")
            }
            signal(SIGPIPE, SIG_IGN)  // a dot that stops reading early is reported below, not a crash
            try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
            try? input.fileHandleForWriting.close()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if p.terminationStatus != 0 {
                throw CommandFailure("dot could not draw \(output ?? path): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
    }
}
