import DTECompiler
import DTEModel
import Foundation

/// Renders the resolved model (`dte show`): every node template with its type and evaluated
/// properties, requirements, policies and outputs.
public struct ModelView: Sendable {
    public var model: CompiledModel

    public init(model: CompiledModel) {
        self.model = model
    }

    public func text() -> String {
        var out = ""
        for n in model.nodes {
            out += "\(n.name): \(n.type)    # \(n.file):\(n.mark.line)\n"
            if !n.properties.isEmpty {
                out += "  properties:\n"
                for p in n.properties { out += "    \(p.key): \(p.value.display)\n" }
            }
            if !n.requirements.isEmpty {
                out += "  requirements:\n"
                for r in n.requirements { out += "    - \(r.name): \(r.target ?? "(abstract)")\n" }
            }
        }
        if !model.policies.isEmpty {
            out += "policies:\n"
            for p in model.policies {
                out += "  \(p.name): \(p.type) → [\(p.members.joined(separator: ", "))]\n"
                for prop in p.properties { out += "    \(prop.key): \(prop.value.display)\n" }
            }
        }
        if !model.outputs.isEmpty {
            out += "outputs:\n"
            for o in model.outputs { out += "  \(o.name): \(o.value?.display ?? "(unset)")\n" }
        }
        return out
    }

    public func json() -> String {
        func j(_ v: Value) -> Any {
            switch v {
            case .null: return NSNull()
            case .string(let s): return s
            case .integer(let i): return i
            case .float(let d): return d.isFinite ? d as Any : String(d)
            case .boolean(let b): return b
            case .timestamp(let t): return t.text
            case .version(let v): return v.description
            case .scalar(let s): return ["value": s.amount, "unit": s.unit, "base": s.base, "text": s.description] as [String: Any]
            case .range(let l, let u): return [l, u.map { $0 as Any } ?? "UNBOUNDED"]
            case .list(let items): return items.map(j)
            case .map(let entries): return Dictionary(entries.map { ($0.key, j($0.value)) }, uniquingKeysWith: { a, _ in a })
            case .function(let f): return ["function": f.name, "text": f.display]
            }
        }
        func props(_ entries: [Value.MapEntry]) -> [String: Any] {
            Dictionary(entries.map { ($0.key, j($0.value)) }, uniquingKeysWith: { a, _ in a })
        }
        let root: [String: Any] = [
            "format_version": "1.0",
            "files": model.files,
            "node_templates": model.nodes.map { n in
                [
                    "name": n.name, "type": n.type, "types": n.typeChain, "file": n.file, "line": Int(n.mark.line),
                    "properties": props(n.properties),
                    "requirements": n.requirements.map { ["name": $0.name, "node": $0.target as Any, "relationship": $0.relationship as Any] },
                ] as [String: Any]
            },
            "policies": model.policies.map { ["name": $0.name, "type": $0.type, "targets": $0.members, "properties": props($0.properties)] as [String: Any] },
            "groups": model.groups.map { ["name": $0.name, "type": $0.type, "members": $0.members] as [String: Any] },
            "inputs": model.inputs.map { ["name": $0.name, "file": $0.file, "value": $0.value.map(j) ?? NSNull()] as [String: Any] },
            "outputs": model.outputs.map { ["name": $0.name, "file": $0.file, "value": $0.value.map(j) ?? NSNull()] as [String: Any] },
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
              let s = String(data: data, encoding: .utf8) else { return "{}\n" }
        return s + "\n"
    }
}
