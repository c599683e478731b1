import DTEModel

/// Which components must run before which, from `after` requirements and from `get_attribute`
/// references (a value that reads another component's attribute orders like `after`). The one
/// owner of cycle detection: `dte validate` builds it from the checked model, plan and apply from
/// the plan's component specs; both report a cycle the same way, as located diagnostics.
///
/// Nodes are components by their node template's name (unique in a repository).
public struct DependencyGraph: Sendable {
    /// Why `from` waits for `to`.
    public enum Reason: Sendable, Hashable {
        case after
        /// A value at `path` (`env.NAME`, `command.N`, `args.N`) reads an attribute of `to`.
        case attribute(path: String)
    }

    public struct Edge: Sendable, Hashable {
        public var from: String
        public var to: String
        public var reason: Reason

        public init(from: String, to: String, reason: Reason) {
            self.from = from
            self.to = to
            self.reason = reason
        }
    }

    /// Every component, sorted.
    public let nodes: [String]
    /// The edges out of each component of `nodes` (by its position there), and the position of
    /// each edge's target (nil: not a component of this graph, so it orders nothing).
    private let outgoing: [[Edge]]
    private let targets: [[Int?]]
    private let position: [String: Int]

    /// From each component's edges; an edge to a name that is not one of `components` orders nothing.
    public init(components: [(name: String, edges: [Edge])]) {
        var byName: [String: [Edge]] = [:]
        byName.reserveCapacity(components.count)
        for c in components { byName[c.name, default: []] += c.edges }
        let nodes = byName.keys.sorted()
        var position: [String: Int] = [:]
        position.reserveCapacity(nodes.count)
        for (i, n) in nodes.enumerated() { position[n] = i }
        let outgoing = nodes.map { byName[$0] ?? [] }
        self.nodes = nodes
        self.position = position
        self.outgoing = outgoing
        self.targets = outgoing.map { $0.map { position[$0.to] } }
    }

    /// From a checked model: every `dte.nodes.Component`, its `after` requirements on other
    /// components, and the `get_attribute` references in its property values that are answered
    /// only at apply (see `DTEChecks.readsAtApply`).
    public init(model: CompiledModel) {
        let nodes = model.nodes
        // by position: looking a component up must not copy it; whether a type is a component's
        // is asked once per type, not once per node
        var isComponent: [String: Bool] = [:]
        let components = nodes.indices.filter { i in
            if let known = isComponent[nodes[i].type] { return known }
            let answer = nodes[i].isA(Vocabulary.Node.component)
            isComponent[nodes[i].type] = answer
            return answer
        }
        var positions: [String: Int] = [:]
        for i in components where positions[nodes[i].name] == nil { positions[nodes[i].name] = i }
        let index = positions
        // each component's edges depend on it and the index only: found over all cores
        self.init(components: components.parallelCompactMap { c in
            var segments: [String] = []
            let name = nodes[c].name
            var edges = nodes[c].requirements.compactMap { r -> Edge? in
                guard r.name == "after", let t = r.target, index[t] != nil else { return nil }
                return Edge(from: name, to: t, reason: .after)
            }
            for p in nodes[c].properties where Self.mayRead(p.value) {
                segments.append(p.key)
                Self.attributeReads(p.value, at: &segments) { reference, path in
                    guard let target = reference.first, let i = index[target],
                          DTEChecks.readsAtApply(reference.dropFirst().joined(separator: "."), property: { nodes[i].property($0) })
                    else { return }
                    edges.append(Edge(from: name, to: target, reason: .attribute(path: path)))
                }
                segments.removeAll(keepingCapacity: true)
            }
            return (name, edges)
        })
    }

    /// Calls `found` with each `get_attribute` path in `value` and the property path it sits at
    /// (`env.NAME`, `command.0`); functions nested in `concat`, `join` and `token` included. The
    /// path is kept as segments and joined only for a reference found (most values read none).
    private static func attributeReads(_ value: Value, at segments: inout [String], _ found: ([String], String) -> Void) {
        switch value {
        case .function(.getAttribute(let reference)): found(reference, segments.joined(separator: "."))
        case .function(.concat(let parts)), .function(.join(let parts, _)):
            for part in parts { attributeReads(part, at: &segments, found) }
        case .function(.token(let v, _, _)): attributeReads(v, at: &segments, found)
        case .map(let entries) where entries.count == 1 && FunctionCall.names.contains(entries[0].key):
            // a function nested in another stays as written: a one-key map
            guard case .list(let args) = entries[0].value else { return }
            if entries[0].key == "get_attribute" {
                let reference = args.compactMap(\.stringValue)
                if reference.count >= 2, reference.count == args.count { found(reference, segments.joined(separator: ".")) }
            } else {
                for arg in args { attributeReads(arg, at: &segments, found) }
            }
        case .map(let entries):
            for entry in entries where mayRead(entry.value) {
                segments.append(entry.key)
                attributeReads(entry.value, at: &segments, found)
                segments.removeLast()
            }
        case .list(let items):
            for (i, item) in items.enumerated() where mayRead(item) {
                segments.append(String(i))
                attributeReads(item, at: &segments, found)
                segments.removeLast()
            }
        default: break
        }
    }

    /// Whether a value can hold a reference: a scalar holds none, so its path is never built.
    private static func mayRead(_ value: Value) -> Bool {
        switch value {
        case .map, .list, .function: return true
        default: return false
        }
    }

    /// What `name` waits for (each once, sorted).
    public func dependencies(of name: String) -> [String] {
        Array(Set(edges(from: name).map(\.to))).sorted()
    }

    /// The edges out of `name`.
    public func edges(from name: String) -> [Edge] { position[name].map { outgoing[$0] } ?? [] }

    /// Every cycle, each as the edges around it (a component reading its own attribute is a
    /// cycle of one edge). Each edge is reported in at most one cycle. Iterative (chains may be
    /// long), over positions in `nodes`: a depth-first search from each component in name order.
    public func cycles() -> [[Edge]] {
        var state = [UInt8](repeating: 0, count: nodes.count)  // 1 on the path, 2 done
        var path: [Edge] = []
        var onPath: [Int] = []
        var found: [[Edge]] = []
        var reported: Set<Edge> = []
        var stack: [(node: Int, next: Int)] = []
        for start in nodes.indices where state[start] == 0 {
            stack.append((start, 0))
            state[start] = 1
            onPath.append(start)
            while let top = stack.last {
                let edges = targets[top.node]
                guard top.next < edges.count else {
                    state[top.node] = 2
                    onPath.removeLast()
                    stack.removeLast()
                    if !path.isEmpty { path.removeLast() }
                    continue
                }
                stack[stack.count - 1].next += 1
                guard let to = edges[top.next] else { continue }  // not a component of this graph
                let edge = outgoing[top.node][top.next]
                switch state[to] {
                case 1:
                    let begin = onPath.lastIndex(of: to) ?? 0
                    let cycle = Array(path[begin...]) + [edge]
                    if !cycle.contains(where: reported.contains) {
                        found.append(cycle)
                        reported.formUnion(cycle)
                    }
                case 0:
                    state[to] = 1
                    onPath.append(to)
                    path.append(edge)
                    stack.append((to, 0))
                default:
                    break
                }
            }
        }
        return found
    }

    /// The cycles as diagnostics (code `dependency-cycle`): one per edge of each cycle, at the
    /// `after` requirement or the property that makes it (found in `model`; unlocated without one),
    /// so each place where the cycle can be broken is shown.
    public func cycleDiagnostics(in model: CompiledModel?) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for cycle in cycles() {
            let names = cycle.map(\.from) + [cycle[0].from]
            let text = names.joined(separator: " → ")
            let onlyAfter = cycle.allSatisfy { $0.reason == .after }
            let hint = onlyAfter ? "remove one of the after requirements in the cycle"
                : "remove one of the after requirements or get_attribute references in the cycle "
                  + "(a get_attribute value is known only once the component it names has been submitted)"
            for edge in cycle {
                let node = model?.node(edge.from)
                let base = "topology_template.node_templates.\(edge.from)"
                let message: String, mark: Mark?, path: String
                switch edge.reason {
                case .after:
                    let written = node?.requirements.first { $0.name == "after" && $0.target == edge.to }
                    mark = written?.mark ?? node?.mark
                    path = base + ".requirements"
                    message = edge.from == edge.to ? "\"\(edge.from)\" runs after itself, so it can never start"
                        : "\"\(edge.from)\" runs after \"\(edge.to)\", but the order is a cycle: \(text)"
                case .attribute(let p):
                    let property = String(p.split(separator: ".").first ?? Substring(p))
                    mark = node?.propertyMark(property) ?? node?.mark
                    path = base + ".properties." + p
                    message = edge.from == edge.to ? "\"\(edge.from)\" reads its own attribute in \(p), so it can never start"
                        : "\"\(edge.from)\" reads an attribute of \"\(edge.to)\" in \(p), but the order is a cycle: \(text)"
                }
                out.append(Diagnostic(.error, code: "dependency-cycle", message, hint: hint, file: node?.file, mark: mark, path: path))
            }
        }
        return out
    }
}
