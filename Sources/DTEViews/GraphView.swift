import DTECompiler
import DTEModel
import DTEState

/// The twins' dependency graph: components grouped by twin, the data they use and produce, and
/// edges in the order things happen (what runs or is written first points at what waits for it).
public struct TwinGraph: Sendable, Hashable {
    public struct Node: Sendable, Hashable {
        public enum Kind: String, Sendable { case component, data }
        public var name: String
        public var type: String
        public var kind: Kind
        /// The twin a component belongs to, or the only twin whose components use a data node.
        public var twin: String?
        /// Where it runs (`site/partition`), when placed.
        public var placement: String?
        /// What the state records (e.g. `job 42, succeeded`), when applied.
        public var recorded: String?
    }

    /// `from` happens before `to`: `after` (from finishes first), `uses` (from is read by to),
    /// `produces` (from writes to), or another requirement's name (to is required by from… drawn as from → to).
    public struct Edge: Sendable, Hashable {
        public var from: String
        public var to: String
        public var relation: String
    }

    public struct Twin: Sendable, Hashable {
        public var name: String
        public var project: String?
    }

    public var twins: [Twin]
    /// Sorted by name.
    public var nodes: [Node]
    /// Sorted by (from, to, relation).
    public var edges: [Edge]

    /// Builds the graph of every twin in the model. `placements` and `recorded` are keyed by
    /// address (`twin.<twin>.<component>`).
    public static func build(model: CompiledModel, placements: [String: String] = [:], recorded: [String: String] = [:]) -> TwinGraph {
        let twins = model.nodes.filter { $0.isA(Vocabulary.Node.digitalTwin) }
            .map { Twin(name: $0.name, project: $0.property("project")?.stringValue) }.sorted { $0.name < $1.name }
        var nodes: [String: Node] = [:]
        var edges: Set<Edge> = []
        var readers: [String: Set<String>] = [:]  // data node → twins of the components that use or produce it
        for n in model.nodes where n.isA(Vocabulary.Node.component) {
            guard let twin = n.requirements.first(where: { $0.name == "twin" })?.target else { continue }
            let address = ResourceAddress.component(twin: twin, component: n.name).description
            nodes[n.name] = Node(name: n.name, type: n.type, kind: .component, twin: twin,
                                 placement: placements[address], recorded: recorded[address])
            for r in n.requirements {
                guard let target = r.target, r.name != "twin", r.name != "host" else { continue }
                switch r.name {
                case "after": edges.insert(Edge(from: target, to: n.name, relation: "after"))
                case "uses": edges.insert(Edge(from: target, to: n.name, relation: "uses"))
                default: edges.insert(Edge(from: n.name, to: target, relation: r.name))
                }
                if r.name != "after" { readers[target, default: []].insert(twin) }
            }
        }
        for (name, twinsUsing) in readers where nodes[name] == nil {
            guard let n = model.node(name) else { continue }
            nodes[name] = Node(name: name, type: n.type, kind: .data, twin: twinsUsing.count == 1 ? twinsUsing.first : nil)
        }
        return TwinGraph(twins: twins, nodes: nodes.values.sorted { $0.name < $1.name },
                         edges: edges.filter { nodes[$0.from] != nil && nodes[$0.to] != nil }
                             .sorted { ($0.from, $0.to, $0.relation) < ($1.from, $1.to, $1.relation) })
    }

    /// Only the named twins: their components, the data those touch, and the edges between them.
    public func only(twins names: Set<String>) -> TwinGraph {
        let components = Set(nodes.filter { $0.kind == .component && names.contains($0.twin ?? "") }.map(\.name))
        let kept = edges.filter { components.contains($0.from) || components.contains($0.to) }
        let touched = components.union(kept.flatMap { [$0.from, $0.to] })
        return TwinGraph(twins: twins.filter { names.contains($0.name) }, nodes: nodes.filter { touched.contains($0.name) },
                         edges: kept.filter { touched.contains($0.from) && touched.contains($0.to) })
    }
}

/// Renders a `TwinGraph`: Graphviz DOT (like `terraform graph`) or an indented tree for a terminal.
public struct GraphView {
    public let graph: TwinGraph

    public init(graph: TwinGraph) { self.graph = graph }

    /// Graphviz DOT: one cluster per twin, components as boxes, data as cylinders; `after` edges
    /// solid, data edges dashed.
    public func dot() -> String {
        var out = "digraph \"dte\" {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
        out += "  edge [fontname=\"Helvetica\", fontsize=10];\n"
        func line(_ n: TwinGraph.Node, indent: String) -> String {
            var label = [n.name, n.type]
            if let p = n.placement { label.append("on " + p) }
            if let r = n.recorded { label.append(r) }
            let shape = n.kind == .data ? ", shape=cylinder, style=solid" : ""
            return "\(indent)\(quote(n.name)) [label=\(quote(label.joined(separator: "\n")))\(shape)];\n"
        }
        for t in graph.twins {
            out += "  subgraph \(quote("cluster_" + t.name)) {\n"
            out += "    label=\(quote("twin \(t.name)" + (t.project.map { " (project \($0))" } ?? "")));\n"
            for n in graph.nodes where n.twin == t.name { out += line(n, indent: "    ") }
            out += "  }\n"
        }
        let twinNames = Set(graph.twins.map(\.name))
        for n in graph.nodes where !twinNames.contains(n.twin ?? "") { out += line(n, indent: "  ") }
        for e in graph.edges {
            let style = e.relation == "after" ? "" : ", style=dashed"
            out += "  \(quote(e.from)) -> \(quote(e.to)) [label=\(quote(e.relation))\(style)];\n"
        }
        return out + "}\n"
    }

    /// An indented tree per twin: each component under the one it runs after (a component after
    /// several appears under each; below the first it is not expanded again), with its type,
    /// placement, recorded state and data.
    public func text() -> String {
        let byName = Dictionary(graph.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let after = graph.edges.filter { $0.relation == "after" }
        let parents = Dictionary(grouping: after, by: \.to).mapValues { $0.map(\.from).sorted() }
        let children = Dictionary(grouping: after, by: \.from).mapValues { $0.map(\.to).sorted() }
        var out = ""
        for t in graph.twins {
            out += "twin \(t.name)" + (t.project.map { " (project \($0))" } ?? "") + "\n"
            let members = graph.nodes.filter { $0.kind == .component && $0.twin == t.name }
            let roots = members.filter { parents[$0.name, default: []].allSatisfy { byName[$0]?.twin != t.name } }
            var shown: Set<String> = []
            func walk(_ name: String, prefix: String, last: Bool) {
                guard let n = byName[name] else { return }
                out += prefix + (last ? "└── " : "├── ") + describe(n, parents: parents[name] ?? [], repeated: shown.contains(name)) + "\n"
                guard !shown.contains(name) else { return }
                shown.insert(name)
                let next = children[name] ?? []
                for (i, c) in next.enumerated() { walk(c, prefix: prefix + (last ? "    " : "│   "), last: i == next.count - 1) }
            }
            for (i, r) in roots.enumerated() { walk(r.name, prefix: "", last: i == roots.count - 1) }
            if members.isEmpty { out += "└── (no components)\n" }
            out += dataLine("data", graph.nodes.filter { $0.kind == .data && $0.twin == t.name })
        }
        let twinNames = Set(graph.twins.map(\.name))
        out += dataLine("data of several twins", graph.nodes.filter { $0.kind == .data && !twinNames.contains($0.twin ?? "") })
        return out
    }

    func dataLine(_ title: String, _ nodes: [TwinGraph.Node]) -> String {
        nodes.isEmpty ? "" : "\(title): " + nodes.map { "\($0.name) (\($0.type))" }.joined(separator: ", ") + "\n"
    }

    func describe(_ n: TwinGraph.Node, parents: [String], repeated: Bool) -> String {
        if repeated { return "\(n.name) (after \(parents.joined(separator: ", ")); shown above)" }
        var parts = [n.type]
        parts.append(n.placement.map { "on \($0)" } ?? "not placed")
        if let r = n.recorded { parts.append(r) }
        if parents.count > 1 { parts.append("after \(parents.joined(separator: ", "))") }
        for relation in Set(graph.edges.filter { ($0.to == n.name || $0.from == n.name) && $0.relation != "after" }.map(\.relation)).sorted() {
            let others = graph.edges.filter { $0.relation == relation && ($0.to == n.name || $0.from == n.name) }
                .map { $0.to == n.name ? $0.from : $0.to }.sorted()
            parts.append("\(relation) \(others.joined(separator: ", "))")
        }
        return "\(n.name): \(parts.joined(separator: "; "))"
    }

    func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
