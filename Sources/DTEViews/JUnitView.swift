import DTEModel
import DTEPlanner
import Foundation

/// Hook results (and blocking diagnostics) as JUnit XML, the test-report format CI systems show
/// (`dte plan --junit FILE`; docs/ci.md). One `testsuite` per hook phase, one `testcase` per hook
/// result: `fail` has a `failure` element, `warn` is `skipped` with the verdict in `properties`,
/// `pass` is a plain testcase. Errors among the diagnostics make a `dte.diagnostics` suite of
/// failures. Every text is XML-escaped; characters XML cannot carry become U+FFFD.
public struct JUnitView {
    public var name: String
    public var hooks: [HookResult]
    public var diagnostics: [Diagnostic]
    public var timestamp: Date

    public init(name: String = "dte plan", hooks: [HookResult], diagnostics: [Diagnostic], timestamp: Date = Date()) {
        self.name = name
        self.hooks = hooks
        self.diagnostics = diagnostics
        self.timestamp = timestamp
    }

    public init(plan: Plan) {
        self.init(hooks: plan.hooks, diagnostics: plan.diagnostics, timestamp: plan.createdAt)
    }

    struct Case {
        var name: String
        var classname: String
        var properties: [(String, String)] = []
        /// `failure` or `skipped`, with its message and type; nil: passed.
        var outcome: (element: String, message: String, type: String?)?
        var detail: String = ""
    }

    public func render() -> String {
        var suites: [(String, [Case])] = []
        for phase in HookPhase.allCases {
            let results = hooks.filter { $0.phase == phase }
            guard !results.isEmpty else { continue }
            let suite = "dte.hooks.\(phase.rawValue)"
            suites.append((suite, results.map { r in
                var c = Case(name: r.name + (r.subject.map { ": \($0)" } ?? ""), classname: "\(suite).\(r.name)")
                c.properties = [("verdict", r.verdict.rawValue), ("blocking", r.blocking ? "true" : "false")]
                if let s = r.subject { c.properties.append(("subject", s)) }
                var lines = r.evidence.map { "\($0.passed ? "ok  " : "FAIL") \($0.check): \($0.detail)" }
                if let remedy = r.remedy { lines.append("remedy: \(remedy)") }
                c.detail = lines.joined(separator: "\n")
                switch r.verdict {
                case .pass: break
                case .warn: c.outcome = ("skipped", "warn: \(r.summary)", nil)
                case .fail: c.outcome = ("failure", r.summary, r.blocking ? "blocking" : "non-blocking")
                }
                return c
            }))
        }
        let errors = diagnostics.filter { $0.severity == .error }
        if !errors.isEmpty {
            suites.append(("dte.diagnostics", errors.map { d in
                let place = d.file.map { f in f + (d.line.map { ":\($0)" } ?? "") + (d.column.map { ":\($0)" } ?? "") }
                var c = Case(name: [place, d.code].compactMap { $0 }.joined(separator: " "), classname: "dte.diagnostics.\(d.code)")
                c.outcome = ("failure", d.message, "error")
                c.detail = [d.path.map { "at \($0)" }, d.hint.map { "hint: \($0)" }].compactMap { $0 }.joined(separator: "\n")
                return c
            }))
        }
        func count(_ cases: [Case], _ element: String) -> Int { cases.filter { $0.outcome?.element == element }.count }
        let all = suites.flatMap(\.1)
        let stamp = ISO8601DateFormatter().string(from: timestamp)
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<testsuites name=\"\(Self.escape(name))\" tests=\"\(all.count)\" failures=\"\(count(all, "failure"))\" errors=\"0\" skipped=\"\(count(all, "skipped"))\">\n"
        for (suite, cases) in suites {
            x += "  <testsuite name=\"\(Self.escape(suite))\" tests=\"\(cases.count)\" failures=\"\(count(cases, "failure"))\" errors=\"0\""
                + " skipped=\"\(count(cases, "skipped"))\" timestamp=\"\(stamp)\">\n"
            for c in cases {
                x += "    <testcase name=\"\(Self.escape(c.name))\" classname=\"\(Self.escape(c.classname))\""
                guard !c.properties.isEmpty || c.outcome != nil || !c.detail.isEmpty else {
                    x += "/>\n"
                    continue
                }
                x += ">\n"
                if !c.properties.isEmpty {
                    x += "      <properties>\n"
                    for (k, v) in c.properties { x += "        <property name=\"\(Self.escape(k))\" value=\"\(Self.escape(v))\"/>\n" }
                    x += "      </properties>\n"
                }
                if let o = c.outcome {
                    x += "      <\(o.element) message=\"\(Self.escape(o.message))\"" + (o.type.map { " type=\"\(Self.escape($0))\"" } ?? "")
                    x += o.element == "failure" && !c.detail.isEmpty ? ">\(Self.escape(c.detail, inAttribute: false))</\(o.element)>\n" : "/>\n"
                }
                if !c.detail.isEmpty { x += "      <system-out>\(Self.escape(c.detail, inAttribute: false))</system-out>\n" }
                x += "    </testcase>\n"
            }
            x += "  </testsuite>\n"
        }
        x += "</testsuites>\n"
        return x
    }

    /// Text for XML content and attribute values: the five special characters escaped, and what
    /// XML 1.0 cannot hold at all (control characters but tab/newline/CR, U+FFFE, U+FFFF) replaced by U+FFFD.
    public static func escape(_ s: String, inAttribute: Bool = true) -> String {
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            switch u {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&apos;".unicodeScalars)
            // Kept in text; in an attribute a parser would turn them into spaces, so they are written as references.
            case "\t", "\n": if inAttribute { out.append(contentsOf: "&#\(u.value);".unicodeScalars) } else { out.append(u) }
            case "\r": out.append(contentsOf: "&#13;".unicodeScalars)
            default:
                if u.value < 0x20 || u.value == 0xFFFE || u.value == 0xFFFF { out.append("\u{FFFD}") } else { out.append(u) }
            }
        }
        return String(out)
    }
}
