import ArgumentParser
import DTEState
import DTEViews
import Foundation

extension DTE {
    /// `dte output [NAME] [--json]`: the twins' topology outputs as the last apply resolved them.
    struct OutputCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "output",
            abstract: "Show the topology outputs recorded by the last apply (like terraform output).",
            discussion: """
                Outputs are resolved from what the sites' agents reported (get_attribute: job_id, state, exit_code, …). \
                An output of a file that declares one twin is named TWIN.OUTPUT; NAME may leave out the twin when only one \
                twin has that output. With NAME, the bare value is printed (for scripts). A value a site has not reported \
                yet (e.g. exit_code of a running job) is shown with why; record fresh ones with \
                `dte plan --refresh-only --out FILE` and `dte apply FILE`.
                """
        )
        @OptionGroup var location: LocationOptions
        @OptionGroup var stateOptions: StateOptions
        @Argument(help: "One output, e.g. demo.job or job.") var name: String?
        @Flag(help: "As JSON: {name: value or null}.") var json = false

        func run() async throws {
            let outputs = try await openState(location, stateOptions).outputs()
            guard let name else {
                if json {
                    print(OutputsView(outputs: outputs).json(), terminator: "")
                } else if outputs.isEmpty {
                    print("no outputs recorded (the repository declares none, or nothing was applied yet)")
                } else {
                    print(OutputsView(outputs: outputs).text(), terminator: "")
                }
                return
            }
            let matches = outputs.filter { $0.name == name }.isEmpty ? outputs.filter { $0.name.hasSuffix("." + name) } : outputs.filter { $0.name == name }
            guard let o = matches.first else {
                let known = outputs.map(\.name).joined(separator: ", ")
                throw CommandFailure("no output \(name) in the state (\(known.isEmpty ? "none recorded" : "outputs: " + known))")
            }
            if matches.count > 1 {
                throw CommandFailure("\(name) is ambiguous: \(matches.map(\.name).joined(separator: ", ")); name the twin too")
            }
            if json {
                print(OutputsView(outputs: [o]).json(), terminator: "")
                return
            }
            guard let value = o.value else {
                throw CommandFailure("output \(o.name) has no value yet: \(o.note ?? "known after apply")")
            }
            print(value)
        }
    }
}
