import DTECompiler
import DTEModel
import DTEState
import Foundation

/// A value that needs what a site reports (TOSCA `get_attribute`), kept until it can be answered:
/// in a plan it shows as "(known after apply)", at apply it is resolved from the attributes the
/// state recorded for the resource it names.
public indirect enum AttributeExpression: Sendable, Codable, Hashable {
    /// Known text (a literal, or a function the compiler already evaluated).
    case text(String)
    /// An attribute of a resource: `address` is `twin.<twin>.<component>` (or the node template's
    /// name for a node that is not a component).
    case attribute(address: String, name: String)
    case concat([AttributeExpression])
    case join([AttributeExpression], delimiter: String)
    case token(AttributeExpression, separators: String, index: Int)

    /// The expression a checked value stands for; nil when it needs nothing from a site.
    /// `address` maps a node template's name to its resource address (components only);
    /// `property` answers a `get_attribute` that names a property (TOSCA allows it).
    public init?(_ value: Value, address: (String) -> String?, property: (String, String) -> Value?) {
        guard value.isSymbolic else { return nil }
        self = Self.convert(value, address: address, property: property)
    }

    static func convert(_ value: Value, address: (String) -> String?, property: (String, String) -> Value?) -> AttributeExpression {
        func sub(_ v: Value) -> AttributeExpression { convert(v, address: address, property: property) }
        switch value {
        case .function(.getAttribute(let path)):
            guard let node = path.first else { return .text(value.display) }
            let name = path.dropFirst().joined(separator: ".")
            if !DTEChecks.readsAtApply(name, property: { property(node, $0) }), let p = property(node, name) {
                return .text(p.stringValue ?? p.display)
            }
            return .attribute(address: address(node) ?? node, name: name)
        case .function(.concat(let parts)): return .concat(parts.map(sub))
        case .function(.join(let parts, let delimiter)): return .join(parts.map(sub), delimiter: delimiter)
        case .function(.token(let v, let separators, let index)): return .token(sub(v), separators: separators, index: index)
        case .map(let entries) where entries.count == 1:
            // a function nested in concat/join/token stays as written: a one-key map
            let args = entries[0].value.listValue ?? []
            switch entries[0].key {
            case "get_attribute":
                let path = args.compactMap(\.stringValue)
                if path.count >= 2, path.count == args.count { return sub(.function(.getAttribute(path))) }
            case "concat": return .concat(args.map(sub))
            case "join":
                if let parts = args.first?.listValue { return .join(parts.map(sub), delimiter: args.count > 1 ? args[1].stringValue ?? "" : "") }
            case "token":
                if args.count == 3, let seps = args[1].stringValue, let i = args[2].intValue ?? args[2].stringValue.flatMap({ Int($0) }) {
                    return .token(sub(args[0]), separators: seps, index: i)
                }
            default: break
            }
            return .text(value.display)
        default: return .text(value.stringValue ?? value.display)
        }
    }

    /// The resource addresses it reads attributes of.
    public var references: [String] {
        switch self {
        case .text: return []
        case .attribute(let a, _): return [a]
        case .concat(let parts), .join(let parts, _): return parts.flatMap(\.references)
        case .token(let v, _, _): return v.references
        }
    }

    /// Why an expression has no value yet.
    public struct Unresolved: Error, Sendable, Hashable, CustomStringConvertible {
        public var address: String
        public var attribute: String
        public var description: String { "\(address) has not reported \(attribute) yet" }
    }

    /// The text it stands for, reading attributes through `lookup` (address, attribute name).
    public func resolve(_ lookup: (String, String) -> String?) throws(Unresolved) -> String {
        switch self {
        case .text(let s): return s
        case .attribute(let address, let name):
            guard let v = lookup(address, name) else { throw Unresolved(address: address, attribute: name) }
            return v
        case .concat(let parts):
            var out = ""
            for p in parts { out += try p.resolve(lookup) }
            return out
        case .join(let parts, let delimiter):
            var out: [String] = []
            for p in parts { out.append(try p.resolve(lookup)) }
            return out.joined(separator: delimiter)
        case .token(let v, let separators, let index):
            let tokens = try v.resolve(lookup).split(omittingEmptySubsequences: false) { separators.contains($0) }
            return tokens.indices.contains(index) ? String(tokens[index]) : ""
        }
    }
}

/// The attributes a component reports, as the state records them (a JSON object of strings in
/// the resource's `outputs` column): `site`, `partition`, `pod_uid` and `job_id` from apply,
/// `state`, `exit_code`, `started_at`, `finished_at` and `reason` from what the site's agent reports.
public enum ResourceAttributes {
    /// The names apply and refresh fill in (`docs/types.md`, `dte.nodes.Component`'s attributes).
    public static let reported = DTEChecks.reportedAttributes

    public static func decode(_ json: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
    }

    public static func encode(_ attributes: [String: String]) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(attributes)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// What apply knows right after the site accepted the pod.
    public static func submitted(site: String, partition: String?, qos: String? = nil, podUID: String, jobID: String) -> [String: String] {
        var a = ["site": site, "pod_uid": podUID, "job_id": jobID, "state": ResourcePhase.submitted.rawValue]
        if let partition { a["partition"] = partition }
        if let qos { a["qos"] = qos }
        return a
    }

    /// A recorded resource's attributes updated with what its site reports now.
    public static func merging(_ recorded: [String: String], _ o: ObservedPod) -> [String: String] {
        var a = recorded
        a["state"] = o.phase
        if !o.jobID.isEmpty { a["job_id"] = o.jobID }
        let f = ISO8601DateFormatter()
        if let x = o.exitCode { a["exit_code"] = String(x) }
        if let d = o.startedAt { a["started_at"] = f.string(from: d) }
        if let d = o.finishedAt { a["finished_at"] = f.string(from: d) }
        if let r = o.reason { a["reason"] = r }
        return a
    }
}

/// A topology output: its name (prefixed by the twin its file declares, e.g. `demo.job`) and value.
public struct OutputDefinition: Sendable, Codable, Hashable {
    public var name: String
    public var file: String
    public var value: AttributeExpression

    /// The outputs of a compiled model. An output of a file that declares one twin is named
    /// `<twin>.<output>`, so twins may use the same output names.
    public static func all(in model: CompiledModel, resources: [DesiredResource]) -> [OutputDefinition] {
        guard !model.outputs.isEmpty else { return [] }
        let addresses = Dictionary(resources.map { ($0.spec.component, $0.address) }, uniquingKeysWith: { a, _ in a })
        let twinsByFile = Dictionary(grouping: model.nodes.filter { $0.isA(Vocabulary.Node.digitalTwin) }, by: \.file)
        return model.outputs.compactMap { o in
            guard let v = o.value else { return nil }
            let twins = twinsByFile[o.file] ?? []
            let name = twins.count == 1 ? "\(twins[0].name).\(o.name)" : o.name
            let expr = AttributeExpression(v, address: { addresses[$0] }, property: { model.node($0)?.property($1) })
                ?? .text(v.stringValue ?? v.display)
            return OutputDefinition(name: name, file: o.file, value: expr)
        }.sorted { $0.name < $1.name }
    }
}

extension OutputValue {
    /// Resolves outputs from attributes (address → attributes); references to `pending` addresses
    /// (created or replaced by the plan) are known only after apply.
    public static func resolve(_ outputs: [OutputDefinition], attributes: [String: [String: String]],
                               pending: Set<String> = []) -> [OutputValue] {
        outputs.map { o in
            if let p = o.value.references.first(where: pending.contains) {
                return OutputValue(name: o.name, value: nil, note: "known after apply: \(p) changes")
            }
            do throws(AttributeExpression.Unresolved) {
                return OutputValue(name: o.name, value: try o.value.resolve { attributes[$0]?[$1] }, note: nil)
            } catch {
                let why = ResourceAddress(error.address)?.twin == nil ? "DTE records no attributes of \(error.address) (only of components)"
                    : attributes[error.address] == nil ? "\(error.address) is not applied" : error.description
                return OutputValue(name: o.name, value: nil, note: why)
            }
        }
    }
}

extension ComponentSpec {
    /// The spec the site receives: every deferred `get_attribute` replaced by its value.
    public func resolvingDeferred(_ lookup: (String, String) -> String?) throws(AttributeExpression.Unresolved) -> ComponentSpec {
        var s = self
        for (path, expr) in (deferred ?? [:]).sorted(by: { $0.key < $1.key }) {
            let v = try expr.resolve(lookup)
            let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "env": s.env[parts[1]] = v
            case "command": if let i = Int(parts[1]), s.command.indices.contains(i) { s.command[i] = v }
            case "args": if let i = Int(parts[1]), s.args.indices.contains(i) { s.args[i] = v }
            default: break
            }
        }
        s.deferred = nil
        return s
    }

    /// Addresses whose attributes this spec reads.
    public var attributeReferences: [String] {
        Array(Set((deferred ?? [:]).values.flatMap(\.references))).sorted()
    }
}
