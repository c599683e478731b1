import Foundation
import PodWire
import Testing

@testable import EdgeAgent

/// The submit descriptions dte-agent writes, read by HTCondor's own submit-language parser
/// (`htcondor2.Submit` from HTCondor's Python bindings, which scripts/install-deps.sh installs;
/// `+Attr` values evaluated by its ClassAd library): every value HTCondor expands is the one
/// the agent meant, whatever the pod, the site's paths or the job's environment hold — no
/// `$(...)` macro of anyone's data is expanded, quotes survive, and a value the submit
/// language cannot carry (`$`, which no escape round-trips, line breaks) is refused with a
/// reason instead of being changed.
@Suite struct HTCondorSubmitLanguageTests {
    /// What HTCondor's parser made of a description.
    struct Expanded: Decodable {
        var settings: [String: String]
        var custom: [String: CustomValue]
        var environment: [String: String]
    }

    enum CustomValue: Decodable, Equatable {
        case string(String), bool(Bool), other
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else { self = .other }
        }
    }

    static let parser = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fake-htcondor/fake_condor.py").path

    /// Writes `description` to a file and has HTCondor's parser expand it.
    static func expand(_ description: String) throws -> Expanded {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dte-submit-\(UUID().uuidString.prefix(8)).sub")
        try description.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try CommandRunner.runBlocking("python3", [parser, "_expand", file.path], environment: nil).get()
        try #require(result.status == 0, "HTCondor's parser refused the description: \(result.stderr)\n\(description)")
        return try JSONDecoder().decode(Expanded.self, from: Data(result.stdout.utf8))
    }

    /// Hostile pods: their commands, arguments and environment hold quotes, macros, spaces and
    /// line breaks. They reach the job script (shell-quoted), never the submit description.
    static let pods: [(String, Container)] = [
        ("macros", Fixtures.container("main", ["sh", "-c", "echo $(Cluster) $$(x) $ENV(HOME) $(DOLLAR)"],
                                      args: ["$(Process)", "$RANDOM_INTEGER(1,9)"],
                                      env: [EnvVar(name: "X", value: "$(Cluster)"), EnvVar(name: "Y", value: "$ENV(PATH)")])),
        ("quotes", Fixtures.container("main", ["echo", "it's \"quoted\"", "'single' ''doubled''"],
                                      env: [EnvVar(name: "Q", value: "a \"b\" 'c'")])),
        ("spaces and lines", Fixtures.container("main", ["printf", "%s\n", "two words", "line\nbreak", " lead", "trail "],
                                                env: [EnvVar(name: "M", value: "one\ntwo\r\nthree"), EnvVar(name: "S", value: "  ")])),
    ]

    /// The job environment, as hostile as a site's account can make it and still be written
    /// (a `$` is refused: see `valuesTheSubmitLanguageCannotCarryAreRefused`).
    static let environment = [
        "PATH": "/opt/b in:/usr/bin", "HOME": "/home/o'neil \"x\" ''", "LANG": "C.UTF-8",
        "WEIRD": "a=b c\\d #not-a-comment (Cluster) = x ; `id`", "EMPTY": "", "PADDED": "  both ends  ",
    ]

    @Test(arguments: pods.indices)
    func htcondorReadsBackWhatTheAgentMeant(_ index: Int) throws {
        var (name, container) = Self.pods[index]
        container.resources.limits["nvidia.com/gpu"] = "1"  // the model annotation counts only with a GPU
        // A site whose folder has spaces, quotes and a `#` in its path.
        var configuration = Fixtures.configuration(dir: "/srv/dte site/o'k \"x\" #1")
        configuration.backend = .htcondor
        let pod = Fixtures.pod("hostile", containers: [container],
                               annotations: ["dte.io/gpu-model": "a100", "dte.io/account": "proj1", "dte.io/walltime": "10"])
        var job = try Fixtures.builder(configuration).build(pod)
        #expect(job.request.gpus == 1)
        job.request.afterOK = ["17", "18"]
        let description = try HTCondorCLI.submitDescription(job.request, executable: job.scriptPath, environment: Self.environment)
        let expanded = try Self.expand(description)

        #expect(expanded.settings["executable"] == job.scriptPath, "\(name)")
        #expect(expanded.settings["initialdir"] == job.podDir)
        #expect(expanded.settings["output"] == "\(job.podDir)/job.out")
        #expect(expanded.settings["error"] == "\(job.podDir)/job.err")
        #expect(expanded.settings["batch_name"] == job.request.name)
        #expect(expanded.settings["accounting_group"] == "proj1")
        #expect(expanded.settings["request_cpus"] == "\(job.request.cpusPerTask)")
        #expect(expanded.settings["request_memory"] == "\(job.request.memoryMiB)")
        #expect(expanded.settings["allowed_job_duration"] == "600")
        #expect(expanded.settings["require_gpus"] == #"regexp("a100", DeviceName, "i")"#)
        #expect(expanded.settings["requirements"] == nil, "the agent sets no requirements of its own")
        // The pod's command and arguments are the job script's business: HTCondor gets none.
        #expect(expanded.settings["arguments"] == nil)
        #expect(expanded.environment == Self.environment)
        #expect(expanded.custom["DTEComment"] == .string(job.request.comment))
        #expect(expanded.custom["DTEAfter"] == .string("17 18"))
        #expect(expanded.settings["hold"] == "true")
        // Nothing the pod chose is in the description (so no macro of it can be expanded).
        for word in container.command + container.args + container.env.compactMap(\.value) where word.contains("$") {
            #expect(!description.contains(word), "\(word) reached the submit description")
        }
        // The job script HTCondor runs carries them, quoted for the shell (words with `$` are
        // first expanded as Kubernetes does, which JobScriptTests covers).
        for word in container.command + container.args where !word.contains("$") {
            #expect(job.batchScript.contains(Shell.quote(word)), "\(word) is missing from the job script")
        }
    }

    /// A comment or name with a backslash and quotes is one ClassAd string, byte for byte.
    @Test func classAdStringsKeepBackslashesAndQuotes() throws {
        var request = HTCondorBackendTests.request()
        request.comment = #"dte-agent:i\"x\\y:(Cluster) = 'z'"#
        let expanded = try Self.expand(try HTCondorCLI.submitDescription(request, executable: "/x/job.slurm", environment: [:]))
        #expect(expanded.custom["DTEComment"] == .string(request.comment))
        #expect(expanded.environment.isEmpty)
    }

    /// What the submit language cannot carry is refused with the reason, never changed.
    @Test func valuesTheSubmitLanguageCannotCarryAreRefused() throws {
        let cases: [(BatchJobRequest, [String: String], String)] = [
            (HTCondorBackendTests.request { $0.workDir = "/srv/dte/line\nbreak" }, [:], "the pod folder"),
            (HTCondorBackendTests.request { $0.workDir = "/srv/dte/trailing " }, [:], "the pod folder"),
            (HTCondorBackendTests.request(), ["HOME": "/home/a\nb"], "HOME"),
            (HTCondorBackendTests.request(), ["BAD NAME": "x"], "BAD NAME"),
            (HTCondorBackendTests.request(), ["HOME": "/home/$(Cluster)"], "expand its `$`"),
            (HTCondorBackendTests.request(), ["PATH": "/opt/$(DOLLAR)bin"], "expand its `$`"),
            (HTCondorBackendTests.request { $0.workDir = "/srv/$$(Name)/pods" }, [:], "expand its `$`"),
            (HTCondorBackendTests.request { $0.comment = "dte-agent:$ENV(HOME):u1" }, [:], "expand its `$`"),
            (HTCondorBackendTests.request { $0.afterOK = ["1 || true"] }, [:], "not numeric"),
        ]
        for (request, environment, words) in cases {
            let error = #expect(throws: AgentError.self) {
                try HTCondorCLI.submitDescription(request, executable: "/x/job.slurm", environment: environment)
            }
            #expect(error?.message.contains(words) == true, "\(String(describing: error))")
        }
    }
}
