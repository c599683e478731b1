import DTEModel
import Foundation
import Synchronization

/// DTE's own rules on top of TOSCA: names that become Kubernetes names, twin membership,
/// schedules. They only apply to nodes and policies of the DTE types.
public enum DTEChecks {
    // the same names as Vocabulary's, for callers outside the compiler
    public static let twinType = Vocabulary.Node.digitalTwin
    public static let componentType = Vocabulary.Node.component
    public static let siteType = Vocabulary.Node.site
    public static let schedulePolicy = Vocabulary.Policy.schedule
    public static let triggerPolicy = Vocabulary.Policy.trigger
    static let cronHint = "use five fields: minute hour day-of-month month day-of-week, e.g. \"0 */6 * * *\", or @hourly, @daily, @weekly, @monthly"

    /// Cron expressions and time zones of schedule policies and scheduled components.
    static func scheduleDiagnostics(_ model: CompiledModel) -> [Diagnostic] {
        var out: [Diagnostic] = []
        func zone(_ v: Value?, owner: String, file: String, mark: Mark, path: String) {
            guard case .string(let name)? = v, TimeZoneName.problem(name) != nil else { return }
            out.append(Diagnostic(.error, code: "invalid-timezone", "\(owner): time zone \"\(name.prefix(80))\" \(TimeZoneName.problem(name) ?? "")",
                                  hint: "use an IANA time zone name such as UTC, Europe/Berlin or America/New_York", file: file, mark: mark, path: path))
        }
        for p in model.policies where p.isA(Vocabulary.Policy.schedule) {
            for prop in p.properties {
                guard case .string(let expr) = prop.value, prop.key == "cron" || prop.key == "schedule" || prop.key == "expression" else { continue }
                if let problem = CronExpression.problem(expr) {
                    out.append(Diagnostic(
                        .error, code: "invalid-cron", "policy \"\(p.name)\": \"\(expr.prefix(80))\" is not a cron expression: \(problem)", hint: cronHint,
                        file: p.file, mark: p.propertyMarks[prop.key] ?? p.mark, path: p.path + ".properties.\(prop.key)"))
                }
            }
            zone(p.property("timezone"), owner: "policy \"\(p.name)\"", file: p.file, mark: p.propertyMarks["timezone"] ?? p.mark,
                 path: p.path + ".properties.timezone")
        }
        model.forEachNode(isA: Vocabulary.Node.component) { n in
            guard case .string(let expr)? = n.property("schedule") else { return }
            let base = "topology_template.node_templates.\(n.name).properties"
            if let problem = CronExpression.problem(expr) {
                out.append(Diagnostic(
                    .error, code: "invalid-cron", "property \"schedule\" of \"\(n.name)\": \"\(expr.prefix(80))\" is not a cron expression: \(problem)", hint: cronHint,
                    file: n.file, mark: n.propertyMark("schedule") ?? n.mark, path: "\(base).schedule"))
            }
            zone(n.property("timezone"), owner: "\"\(n.name)\"", file: n.file, mark: n.propertyMark("timezone") ?? n.mark, path: "\(base).timezone")
        }
        return out
    }

    /// Where data triggers watch: a folder the loop can see (an absolute path or a file:// URL),
    /// and a glob for one folder's file names.
    static func triggerDiagnostics(_ model: CompiledModel) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for p in model.policies where p.isA(Vocabulary.Policy.trigger) {
            func refuse(_ key: String, _ code: String, _ message: String, hint: String) {
                out.append(Diagnostic(.error, code: code, "policy \"\(p.name)\": \(message)", hint: hint, file: p.file,
                                      mark: p.propertyMarks[key] ?? p.mark, path: p.path + ".properties.\(key)"))
            }
            if case .string(let location)? = p.property("location"), let problem = DatasetLocation.problem(location) {
                refuse("location", "invalid-dataset-location", problem,
                      hint: "give the folder as an absolute path (/data/incoming) or a file:// URL; object stores are not watched yet")
            }
            if case .string(let pattern)? = p.property("pattern") {
                if pattern.isEmpty || pattern.utf8.count > 255 {
                    refuse("pattern", "invalid-pattern", "pattern must have 1 to 255 bytes", hint: "a glob of file names, e.g. \"*.nc\"")
                } else if pattern.contains("/") || pattern.utf8.contains(0) {
                    refuse("pattern", "invalid-pattern", "pattern \"\(pattern.prefix(80))\" contains '/' or a NUL: it matches file names in the location, not paths",
                          hint: "watch the subfolder as the location instead")
                }
            }
            if p.members.isEmpty {
                refuse("targets", "trigger-without-targets", "a trigger needs targets (the components it runs)", hint: "add targets: [ component ]")
            }
        }
        return out
    }

    /// Every rule, each over the whole model; they run at once, one per core.
    /// The rules that read the model node by node, run side by side.
    static let rules: [@Sendable (CompiledModel) -> [Diagnostic]] = [
        nameDiagnostics, scheduleDiagnostics, triggerDiagnostics, NotEnforced.run,
    ]

    /// Phase 6 of the checker: DTE's rules over the resolved model. The dependency graph (the
    /// largest) is built first over all cores; the other rules then run side by side. Reported in
    /// a fixed order: names, schedules, triggers, cycles, what is not enforced.
    public static func run(_ model: CompiledModel) -> [Diagnostic] {
        let cycles = DependencyGraph(model: model).cycleDiagnostics(in: model)
        let found = Mutex([[Diagnostic]](repeating: [], count: rules.count))
        DispatchQueue.concurrentPerform(iterations: rules.count) { i in
            let d = rules[i](model)
            found.withLock { $0[i] = d }
        }
        let each = found.withLock { $0 }
        return each[0] + each[1] + each[2] + cycles + each[3]
    }

    /// Twin, component and site names become Kubernetes names.
    static func nameDiagnostics(_ model: CompiledModel) -> [Diagnostic] {
        var out: [Diagnostic] = []
        model.forEachNode(isA: Vocabulary.Node.digitalTwin, Vocabulary.Node.component, Vocabulary.Node.site) { n in
            if let problem = dns1123LabelProblem(n.name) {
                let what = n.isA(Vocabulary.Node.digitalTwin) ? "twin" : (n.isA(Vocabulary.Node.site) ? "site" : "component")
                out.append(Diagnostic(
                    .error, code: "invalid-name",
                    "\(what) name \"\(n.name)\" \(problem); it becomes a Kubernetes \(n.isA(Vocabulary.Node.digitalTwin) ? "namespace" : "name") on the wire",
                    hint: "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. \"\(suggestName(n.name))\")",
                    file: n.file, mark: n.mark, path: "topology_template.node_templates.\(n.name)"))
            }
        }
        return out
    }

    /// The attributes a component reports once applied (`docs/types.md`, `dte.nodes.Component`'s
    /// attributes): apply fills in `site`, `partition`, `pod_uid` and `job_id`, the site's agent
    /// `state`, `exit_code`, `started_at`, `finished_at` and `reason`.
    public static let reportedAttributes: Set<String> = ["state", "site", "partition", "job_id", "pod_uid", "exit_code", "started_at",
                                                         "finished_at", "reason"]

    /// Whether `get_attribute` of `attribute` is answered only at apply: a reported attribute, or
    /// one naming a property (TOSCA allows it) whose value is not known before. `property` reads the
    /// named node's property.
    public static func readsAtApply(_ attribute: String, property: (String) -> Value?) -> Bool {
        if reportedAttributes.contains(attribute) { return true }
        guard let p = property(attribute) else { return true }
        return p.isSymbolic
    }

    /// Why `name` is not a DNS-1123 label, or nil when it is one.
    public static func dns1123LabelProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > 63 { return "is longer than 63 characters" }
        for c in name.utf8 where !((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45) {
            return "contains \"\(Character(Unicode.Scalar(c)))\", which is not a lowercase letter, digit or '-'"
        }
        if name.hasPrefix("-") || name.hasSuffix("-") { return "starts or ends with '-'" }
        return nil
    }

    static func suggestName(_ name: String) -> String {
        var s = String(name.lowercased().map { ($0.isLetter && $0.isASCII) || ($0.isNumber && $0.isASCII) ? $0 : "-" })
        while s.hasPrefix("-") { s.removeFirst() }
        while s.hasSuffix("-") { s.removeLast() }
        return String(s.prefix(63))
    }
}

/// Whether a time zone name is one Foundation knows (schedules are read in it).
public enum TimeZoneName {
    /// Nil when known, else what is wrong.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty || name.utf8.count > 64 { return "must have 1 to 64 characters" }
        return TimeZone(identifier: name) == nil ? "is not a known IANA time zone" : nil
    }
}

/// Where a data trigger may watch: a folder on a filesystem the loop sees.
public enum DatasetLocation {
    public static let maxBytes = 4096

    /// The folder of `location` (`/data/x` or `file:///data/x`), or nil.
    public static func folder(_ location: String) -> String? {
        guard problem(location) == nil else { return nil }
        return location.hasPrefix("file://") ? String(location.dropFirst("file://".count)) : location
    }

    /// Nil when the loop can watch it, else what is wrong.
    public static func problem(_ location: String) -> String? {
        if location.isEmpty || location.utf8.count > maxBytes { return "location must have 1 to \(maxBytes) bytes" }
        if location.utf8.contains(0) { return "location contains a NUL byte" }
        var path = location
        if let scheme = location.range(of: "://") {
            let name = location[..<scheme.lowerBound].lowercased()
            guard name == "file" else { return "location \"\(location.prefix(80))\" is a \(name.prefix(20)):// URL: only folders (absolute paths, file:// URLs) are watched yet" }
            path = String(location[scheme.upperBound...])
        }
        guard path.hasPrefix("/") else { return "location \"\(location.prefix(80))\" is not an absolute path" }
        if path.split(separator: "/").contains("..") { return "location \"\(location.prefix(80))\" contains '..'" }
        return nil
    }
}

/// Validation of cron expressions (the parser is `CronSchedule`).
public enum CronExpression {
    /// Nil when valid, else what is wrong.
    public static func problem(_ expr: String) -> String? {
        do {
            _ = try CronSchedule(expr)
            return nil
        } catch {
            return error.description
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// No silent promises: every policy or property the templates declare that DTE does not act on
/// yet is a warning (code `not-enforced`) naming it, in `dte validate` and `dte plan`. One warning
/// per distinct thing: a property (or a kind of requirement) of components in one file is one
/// warning naming every component that declares it, at the first place it is written; a policy
/// or a site is one warning of its own. When DTE learns to act on one, its entry goes from here
/// (docs/types.md lists the same).
public enum NotEnforced {
    public static let code = "not-enforced"

    /// A property of a node type DTE does not read, and what happens instead.
    struct Unread: Sendable {
        var type: String
        var property: String
        /// What a twin developer gets instead of what the property asks for.
        var instead: String
        /// Whether the value (written, or the type's default) promises anything at all.
        var promises: @Sendable (Value) -> Bool = { _ in true }
    }

    static func nonEmpty(_ v: Value) -> Bool {
        switch v {
        case .list(let l): return !l.isEmpty
        case .map(let m): return !m.isEmpty
        case .string(let s): return !s.isEmpty
        default: return true
        }
    }

    static let unread: [Unread] = [
        Unread(type: Vocabulary.Node.component, property: "mounts", instead: "no folder is mounted in the container", promises: nonEmpty),
        Unread(type: Vocabulary.Node.component, property: "secret_env", instead: "no variable is set from site secrets", promises: nonEmpty),
        Unread(type: Vocabulary.Node.component, property: "workdir", instead: "the container starts in its image's working folder", promises: nonEmpty),
        Unread(type: Vocabulary.Node.component, property: "labels", instead: "the pod gets no labels", promises: nonEmpty),
        Unread(type: Vocabulary.Node.digitalTwin, property: "labels", instead: "the labels are not put on the components' pods", promises: nonEmpty),
        Unread(type: Vocabulary.Node.batchJob, property: "nodes", instead: "the job runs on one node", promises: { ($0.intValue ?? 1) > 1 }),
        Unread(type: Vocabulary.Node.batchJob, property: "tasks_per_node", instead: "the job starts one task per node", promises: { ($0.intValue ?? 1) > 1 }),
        Unread(type: Vocabulary.Node.batchJob, property: "retries", instead: "a failed run is not resubmitted", promises: { ($0.intValue ?? 0) > 0 }),
        Unread(type: Vocabulary.Node.service, property: "ports", instead: "no port is published and the url attribute stays empty", promises: nonEmpty),
        Unread(type: Vocabulary.Node.service, property: "restart", instead: "pods are submitted with restartPolicy Never: a service that stops stays stopped"),
        Unread(type: Vocabulary.Node.mlTraining, property: "strategy", instead: "no distributed training is set up: the command runs as written",
               promises: { $0.stringValue != "none" }),
    ]

    /// What components declare and DTE does not act on: an unread property (by its index in
    /// `unread`), data requirements (`uses`, `produces`), a host requirement's node_filter.
    enum Subject: Hashable { case property(Int), data, host }

    /// The components of one file that declare the same unread thing: one warning names them all.
    struct Group {
        var file: String
        var mark: Mark
        var path: String
        var components: [String] = []
        /// Requirement names seen (`uses`, `produces`), for the data requirements' wording.
        var kinds: Set<String> = []
        /// Whether any of them wrote the value (else every value is a type's default).
        var written = false
        var type: String
    }

    struct Key: Hashable {
        var file: String
        var subject: Subject
    }

    /// `"a"`, `"a", "b"`, `"a", "b", "c" and 4 more`.
    static func names(_ components: [String]) -> String {
        let shown = components.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ")
        return components.count > 5 ? "\(shown) and \(components.count - 5) more" : shown
    }

    public static func run(_ model: CompiledModel) -> [Diagnostic] {
        var out: [Diagnostic] = []
        func warn(_ message: String, hint: String, file: String, mark: Mark, path: String) {
            out.append(Diagnostic(.warning, code: code, message, hint: hint, file: file, mark: mark, path: path))
        }
        var groups: [Key: Group] = [:]
        var order: [Key] = []
        func note(_ subject: Subject, _ n: ResolvedNode, mark: Mark?, path: String, kind: String? = nil, type: String = "") {
            let key = Key(file: n.file, subject: subject)
            if groups[key] == nil {
                groups[key] = Group(file: n.file, mark: mark ?? n.mark, path: path, type: type)
                order.append(key)
            }
            guard var g = groups[key] else { return }
            if !g.components.contains(n.name) { g.components.append(n.name) }
            if let kind { g.kinds.insert(kind) }
            if mark != nil { g.written = true }
            if (mark ?? n.mark) < g.mark { (g.mark, g.path) = (mark ?? n.mark, path) }
            groups[key] = g
        }
        let twins = Dictionary(model.nodes.filter { $0.isA(Vocabulary.Node.digitalTwin) }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // what applies to a type is worked out once per type: the unread entries of its type
        // chain and whether it is a component
        var byType: [String: (unread: [Int], component: Bool)] = [:]
        let nodes = model.nodes
        for k in nodes.indices {
            let type = nodes[k].type
            let applies = byType[type] ?? {
                let answer = (unread: unread.indices.filter { nodes[k].isA(unread[$0].type) }, component: nodes[k].isA(Vocabulary.Node.component))
                byType[type] = answer
                return answer
            }()
            var seen: [String] = []
            for i in applies.unread where !seen.contains(unread[i].property) {
                let u = unread[i]
                guard let v = nodes[k].property(u.property), v != .null, u.promises(v) else { continue }
                seen.append(u.property)
                note(.property(i), nodes[k], mark: nodes[k].propertyMark(u.property),
                     path: "topology_template.node_templates.\(nodes[k].name).properties.\(u.property)", type: type)
            }
            guard applies.component else { continue }
            for r in nodes[k].requirements {
                switch r.name {
                case "uses", "produces": note(.data, nodes[k], mark: r.mark, path: "topology_template.node_templates.\(nodes[k].name).requirements", kind: r.name)
                case "host": note(.host, nodes[k], mark: r.mark, path: "topology_template.node_templates.\(nodes[k].name).requirements")
                default: break
                }
            }
        }
        for key in order {
            guard let g = groups[key] else { continue }
            let who = names(g.components)
            switch key.subject {
            case .data:
                let kinds = ["uses", "produces"].filter(g.kinds.contains)
                let requirements = kinds.count == 1 ? "the \(kinds[0]) requirement is" : "the uses and produces requirements are"
                warn("\(who): \(requirements) declared but DTE does not act on \(kinds.count == 1 ? "it" : "them") yet "
                     + "(no data is mounted, no DTE_DATA_/DTE_OUTPUT_ variable is set, and a user does not wait for the producer)",
                     hint: "order components with after, and pass locations in env, until DTE acts on data requirements",
                     file: g.file, mark: g.mark, path: g.path)
            case .host:
                warn("\(who): the host requirement's node_filter is declared but placement does not read it yet",
                     hint: "narrow placement with a dte.policies.Placement policy (sites, partition) instead",
                     file: g.file, mark: g.mark, path: g.path)
            case .property(let i):
                let u = unread[i]
                warn("\(who): \(u.property) is declared but DTE does not act on it yet (\(u.instead))",
                     hint: g.written ? "remove it, or know that it has no effect yet"
                                     : "the value comes from the type \(g.type)'s default; know that it has no effect yet",
                     file: g.file, mark: g.mark, path: g.path)
            }
        }
        model.forEachNode(isA: Vocabulary.Node.site) { n in
            let base = "topology_template.node_templates.\(n.name).properties"
            if case .list(let allocations)? = n.property("allocations"), allocations.contains(where: { $0["valid_until"] != nil }) {
                warn("site \"\(n.name)\": allocations[].valid_until is declared but DTE does not check it yet (an expired allocation still counts as granted)",
                     hint: "remove expired allocations from the site descriptor",
                     file: n.file, mark: n.propertyMark("allocations") ?? n.mark, path: "\(base).allocations")
            }
        }
        for p in model.policies {
            let mark = { (key: String) in p.propertyMarks[key] ?? p.mark }
            if p.isA(Vocabulary.Policy.quality), let c = p.property("criteria"), nonEmpty(c) {
                warn("policy \"\(p.name)\": criteria is declared but the quality hook does not check extra criteria yet (only the level's)",
                     hint: "ask for the level that includes them (e.g. silver includes QC.Sec)", file: p.file, mark: mark("criteria"),
                     path: p.path + ".properties.criteria")
            }
            if p.isA(Vocabulary.Policy.allocation), let project = p.property("project")?.stringValue {
                let others = p.members.compactMap { m -> String? in
                    let owner = model.node(m)?.requirements.first(where: { $0.name == "twin" })?.target
                    let twin = twins[m] ?? owner.flatMap { twins[$0] }
                    guard let t = twin else { return nil }
                    let own = t.property("project")?.stringValue ?? t.name
                    return own == project ? nil : "\(m) is charged to \(own)"
                }
                if !others.isEmpty {
                    warn("policy \"\(p.name)\": project \(project) is declared but DTE charges a component to its twin's project (\(others.joined(separator: "; ")))",
                         hint: "set the twin's project instead", file: p.file, mark: mark("project"), path: p.path + ".properties.project")
                }
            }
        }
        return out
    }
}
