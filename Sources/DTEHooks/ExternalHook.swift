import DTEApply
import DTEPlanner
import DTEProcess
import DTEViews
import Foundation

/// A site- or team-specific check: a program DTE runs with the hook contract (docs/hooks.md) —
/// the request as JSON on standard input, the answer as JSON on standard output.
///
/// In: `{"format_version":"1.0","hook":NAME,"phase":PHASE,"plan":{…the public plan JSON…},"results":[…]?}`.
/// Out: `{"verdict":"pass"|"warn"|"fail","summary":TEXT,"evidence":[{"check","passed","detail"}]?,"remedy":TEXT?,"subject":TEXT?}`.
///
/// The program runs from argv (never a shell) in the repository root with a minimal environment,
/// in its own process group, killed with everything it started when `timeout` passes. Anything but
/// exit 0 with a valid answer is a `fail` naming the hook and quoting the end of its standard error.
public struct ExternalHook: Hook {
    public static let contractVersion = "1.0"
    /// Caps on what is read from a hook, and on what of it a plan shows.
    public static let outputLimit = 1 << 20
    public static let errorLimit = 4096
    static let quotedErrorLimit = 600
    static let textLimit = 2000
    static let evidenceLimit = 100

    public var name: String
    public var phases: Set<HookPhase>
    public var blocking: Bool
    /// The program and its arguments; a relative program path is relative to the repository root,
    /// a bare name is looked up on `searchPath`.
    public var command: [String]
    public var timeout: Double
    /// The PATH of the hook's environment.
    public static let searchPath = "/usr/local/bin:/usr/bin:/bin"

    public init(name: String, command: [String], phases: Set<HookPhase> = [.preApply], blocking: Bool = true,
                timeout: Double = 60) {
        self.name = name
        self.command = command
        self.phases = phases
        self.blocking = blocking
        self.timeout = timeout
    }

    /// What the hook is given on standard input.
    public struct Request: Codable, Sendable {
        public var format_version: String
        public var hook: String
        public var phase: String
        public var repository_root: String
        public var plan: PlanDocument
        /// What apply did (post-apply and on-failure only).
        public var results: [AppliedResource]?
    }

    public struct AppliedResource: Codable, Sendable {
        public var address: String
        /// `created`, `replaced`, `deleted`, `updated`, `unchanged`, `failed`, `skipped`.
        public var outcome: String
        public var job_id: String?
        public var message: String?
    }

    /// What the hook answers on standard output.
    public struct Answer: Decodable, Sendable {
        public var format_version: String?
        public var verdict: String
        public var summary: String
        public var evidence: [AnswerEvidence]?
        public var remedy: String?
        public var subject: String?
    }

    public struct AnswerEvidence: Decodable, Sendable {
        public var check: String
        public var passed: Bool
        public var detail: String
    }

    public func run(_ input: HookInput) async -> [HookResult] {
        func failed(_ summary: String, remedy: String) -> [HookResult] {
            [HookResult(name: name, phase: input.phase, verdict: .fail, blocking: blocking, summary: summary, remedy: remedy)]
        }
        guard let program = Self.resolve(command.first ?? "", root: input.repositoryRoot) else {
            return failed("hook \(name): cannot run \(Self.quoted(command.first ?? "")): no such executable file",
                          remedy: "fix hooks.\(name).command in dte.yaml (a path relative to the repository root, or a program on \(Self.searchPath))")
        }
        let request = Request(
            format_version: Self.contractVersion, hook: name, phase: input.phase.rawValue, repository_root: input.repositoryRoot,
            plan: PlanDocument(input.plan),
            results: input.results.map { $0.map { AppliedResource(address: $0.address, outcome: $0.outcome.rawValue, job_id: $0.jobID, message: $0.message) } })
        let encoder = PlanDocument.encoder
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? encoder.encode(request) else {
            return failed("hook \(name): the plan could not be written as JSON", remedy: "report this as a DTE bug")
        }
        let environment = [
            "PATH": Self.searchPath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "DTE_HOOK_NAME": name, "DTE_HOOK_PHASE": input.phase.rawValue, "DTE_REPOSITORY_ROOT": input.repositoryRoot,
        ]
        let r = await BoundedProcess.run([program] + command.dropFirst(), environment: environment, directory: input.repositoryRoot,
                                         input: Array(body), timeout: timeout, outputLimit: Self.outputLimit, errorLimit: Self.errorLimit)
        let stderr = Self.quotedError(r.stderr)
        let fixIt = "fix the hook program, or make it non-blocking (hooks: { \(name): { blocking: false } } in dte.yaml)"
        if let e = r.launchError { return failed("hook \(name): \(e)", remedy: fixIt) }
        if r.timedOut {
            return failed("hook \(name) did not answer within \(Self.seconds(timeout)) and was stopped\(stderr)",
                          remedy: "make the hook faster, or give it more time (hooks.\(name).timeout in dte.yaml, at most 3600 s)")
        }
        if let s = r.signal { return failed("hook \(name) was ended by signal \(s)\(stderr)", remedy: fixIt) }
        if r.status != 0 {
            return failed("hook \(name) exited with status \(r.status ?? -1)\(stderr)",
                          remedy: "a hook answers with exit status 0 and its verdict as JSON (a failing check is verdict fail); " + fixIt)
        }
        if r.stdoutTruncated {
            return failed("hook \(name) wrote more than \(Self.outputLimit / 1024) KiB to standard output",
                          remedy: "answer with one JSON object of at most \(Self.outputLimit / 1024) KiB; " + fixIt)
        }
        let answer: Answer
        do {
            answer = try JSONDecoder().decode(Answer.self, from: Data(r.stdout))
        } catch {
            let start = String(decoding: r.stdout.prefix(120), as: UTF8.self)
            return failed("hook \(name) did not answer with the hook JSON (\(Self.decodingProblem(error)))"
                          + (r.stdout.isEmpty ? ": its output was empty" : ": its output begins \(Self.quoted(start))") + stderr,
                          remedy: "print {\"verdict\": \"pass\"|\"warn\"|\"fail\", \"summary\": \"…\"} on standard output (docs/hooks.md); " + fixIt)
        }
        if let v = answer.format_version, !v.hasPrefix("1.") && v != "1" {
            return failed("hook \(name) answered format_version \(Self.quoted(v)); this DTE speaks \(Self.contractVersion)", remedy: fixIt)
        }
        guard let verdict = HookVerdict(rawValue: answer.verdict) else {
            return failed("hook \(name) answered verdict \(Self.quoted(answer.verdict)), which is not pass, warn or fail", remedy: fixIt)
        }
        var evidence = (answer.evidence ?? []).prefix(Self.evidenceLimit).map {
            HookEvidence(check: Self.clean($0.check, limit: 200), passed: $0.passed, detail: Self.clean($0.detail, limit: Self.textLimit))
        }
        if (answer.evidence?.count ?? 0) > Self.evidenceLimit {
            evidence.append(HookEvidence(check: "…", passed: true, detail: "\((answer.evidence?.count ?? 0) - Self.evidenceLimit) more not shown"))
        }
        return [HookResult(name: name, phase: input.phase, verdict: verdict, blocking: blocking,
                           summary: Self.clean(answer.summary, limit: Self.textLimit), evidence: evidence,
                           remedy: answer.remedy.map { Self.clean($0, limit: Self.textLimit) }, subject: answer.subject.map { Self.clean($0, limit: 200) })]
    }

    /// The program to start: an absolute path, a path relative to the repository root, or a bare
    /// name found on `searchPath`; nil when it is not an executable file.
    static func resolve(_ program: String, root: String) -> String? {
        guard !program.isEmpty else { return nil }
        let fm = FileManager.default
        var candidates: [String]
        if program.hasPrefix("/") {
            candidates = [program]
        } else if program.contains("/") {
            candidates = [(root as NSString).appendingPathComponent(program)]
        } else {
            candidates = searchPath.split(separator: ":").map { "\($0)/\(program)" }
        }
        candidates = candidates.map { ($0 as NSString).standardizingPath }
        return candidates.first { path in
            var isDir: ObjCBool = false
            return fm.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue && fm.isExecutableFile(atPath: path)
        }
    }

    /// `: stderr: "…"` with the end of standard error, bounded and without control characters; empty when none.
    static func quotedError(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return "" }
        let tail = text.count > quotedErrorLimit ? "…" + String(text.suffix(quotedErrorLimit)) : text
        return "; its standard error ends: " + quoted(tail)
    }

    /// Text from a hook, made safe to print: control characters (terminal escapes) become spaces, length bounded.
    static func clean(_ s: String, limit: Int) -> String {
        var out = ""
        var count = 0
        for scalar in s.unicodeScalars {
            if count == limit { return out + "…" }
            let v = scalar.value
            out.unicodeScalars.append(v < 0x20 || v == 0x7f || (0x80...0x9f).contains(v) ? " " : scalar)
            count += 1
        }
        return out
    }

    static func quoted(_ s: String) -> String { "\"" + clean(s, limit: quotedErrorLimit + 1) + "\"" }

    static func seconds(_ t: Double) -> String {
        t == t.rounded() ? "\(Int(t)) s" : String(format: "%.1f s", t)
    }

    static func decodingProblem(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "no \"\(key.stringValue)\""
        case .typeMismatch(_, let c)?: return "\"\(c.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type"
        case .valueNotFound(_, let c)?: return "\"\(c.codingPath.map(\.stringValue).joined(separator: "."))\" is null"
        default: return "not JSON"
        }
    }
}
