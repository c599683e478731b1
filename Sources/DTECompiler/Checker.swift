import DTEModel
import Foundation
import Synchronization

/// Options of a check run.
public struct CheckOptions: Sendable {
    /// Input values supplied by the user (`--input name=value`), by name, with where they came from.
    public var inputs: [String: YAMLNode] = [:]
    public var inputsSource: String = "<command line>"
    /// Report required inputs that have no value (planning needs them; validating does not).
    public var requireInputs = false
    /// Refuse what only YAML 1.1 tools accept (`--strict`) instead of reading it with a warning.
    public var strict = false

    public init() {}
}

/// Type-checks loaded files: types and their inheritance, node templates, requirements,
/// policies, groups, inputs, outputs and every function, collecting all diagnostics.
public final class Checker {
    let sources: SourceSet
    let options: CheckOptions
    public internal(set) var diagnostics: [Diagnostic] = []
    public internal(set) var model = CompiledModel()

    var tables: [String: TypeTable] = [:]
    /// Node templates by global name.
    var nodeIndex: [String: NodeRef] = [:]
    var groupIndex: [String: (file: String, group: MemberDefinition)] = [:]
    var propertyDefsByType: [ObjectIdentifier: [String: PropertyDefinition]] = [:]
    var constraintCache: [ObjectIdentifier: [Constraint]] = [:]
    var checkedTypes: Set<ObjectIdentifier> = []
    var inputValueCache: [String: YAMLNode?] = [:]
    var defaultCache: [ObjectIdentifier: Value?] = [:]
    var typeChainCache: [ObjectIdentifier: [String]] = [:]
    /// The value being checked at the top level (function cycles are reported there).
    var currentSite: Mark?

    struct NodeRef {
        var file: String
        var display: String
        var template: NodeTemplate
        var type: TypeDefinition?
        var table: TypeTable
    }

    public init(sources: SourceSet, options: CheckOptions = CheckOptions()) {
        self.sources = sources
        self.options = options
    }

    // MARK: - diagnostics

    func error(_ code: String, _ message: String, hint: String? = nil, file: String, mark: Mark, path: String) {
        diagnostics.append(Diagnostic(.error, code: code, message, hint: hint, file: file, mark: mark, path: path))
    }

    func warning(_ code: String, _ message: String, hint: String? = nil, file: String, mark: Mark, path: String) {
        diagnostics.append(Diagnostic(.warning, code: code, message, hint: hint, file: file, mark: mark, path: path))
    }

    static func didYouMean(_ word: String, _ candidates: [String], list: Bool = false) -> String? {
        if let m = closestMatch(to: word, in: candidates) { return "did you mean \"\(m)\"?" }
        if list, !candidates.isEmpty, candidates.count <= 12 { return "expected one of: " + candidates.sorted().joined(separator: ", ") }
        return nil
    }

    // MARK: - run

    /// Checks every loaded file; returns the resolved model.
    @discardableResult
    public func run() -> CompiledModel {
        buildTypeTables()
        for f in sources.allFiles {
            guard let table = tables[f.path] else { continue }
            for t in f.template.types { checkTypeDefinition(t, table: table, file: f.display) }
        }
        indexTemplates()
        checkSuppliedInputs()
        for f in sources.allFiles {
            guard let table = tables[f.path], let topo = f.template.topology else { continue }
            checkTopology(topo, file: f, table: table)
        }
        model.files = sources.allFiles.map(\.display)
        return model
    }

    // MARK: - type tables

    /// One table per file: the normative types, the file's own types, and (transitively) its imports'.
    func buildTypeTables() {
        let normative = TypeTable()
        for t in NormativeTypes.definitions { normative.add(t) }
        /// The file's own types and, transitively, its imports' (prefixed where imported with a
        /// namespace_prefix); import cycles are walked once.
        func exports(_ path: String) -> [(String, TypeDefinition)] {
            var out: [(String, TypeDefinition)] = []
            var visited: Set<String> = []
            func walk(_ p: String, prefix: String?) {
                guard visited.insert(p).inserted, let f = sources.files[p] else { return }
                for t in f.template.types { out.append((prefix.map { "\($0):\(t.name)" } ?? t.name, t)) }
                for imp in f.imports { walk(imp.path, prefix: imp.prefix ?? prefix) }
            }
            walk(path, prefix: nil)
            return out
        }

        for f in sources.allFiles {
            let table = normative.copy()
            for (name, t) in exports(f.path) {
                if let existing = table.add(t, as: name) {
                    let here = f.template.types.contains { $0 === t } ? t : existing
                    let other = here === t ? existing : t
                    if existing.isNormative && !options.strict {
                        // type files written for tosca-parser restate normative types (tosca.datatypes.Root):
                        // the normative definition stands, as normative names are the profile's
                        if f.template.types.contains(where: { $0 === t }) {
                            warning("normative-redefinition", "\(t.kind.label) \"\(name)\" restates a TOSCA normative type; DTE uses the normative definition",
                                    hint: "remove it from this file (dte validate --strict refuses it)", file: t.source.file, mark: t.source.mark,
                                    path: t.source.path)
                        }
                    } else if existing.isNormative {
                        error("duplicate-type", "\(t.kind.label) \"\(name)\" redefines a TOSCA normative type",
                              hint: "choose another name, e.g. with your organisation's prefix", file: t.source.file, mark: t.source.mark,
                              path: t.source.path)
                    } else if f.template.types.contains(where: { $0 === here }) || f.isRoot {
                        error("duplicate-type",
                              "\(t.kind.label) \"\(name)\" is defined twice: here and in \(other.source.file):\(other.source.mark.line)",
                              hint: "keep one definition and import it where needed", file: here.source.file, mark: here.source.mark,
                              path: here.source.path)
                    }
                }
            }
            tables[f.path] = table
        }
        model.typeCount = Set(tables.values.flatMap { t in TypeKind.allCases.flatMap { t.all($0).map(ObjectIdentifier.init) } }).count
    }

    // MARK: - node templates, over all cores

    /// Checks node templates; a large topology is split between workers, one per core, each a
    /// checker of its own over the same read-only inputs (files, type tables, indexes).
    func checkNodeTemplates(_ refs: [NodeRef]) -> [ResolvedNode] {
        let workers = refs.count >= 2_000 ? max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
        guard workers > 1, #available(macOS 15, *) else { return refs.compactMap(checkNodeTemplate) }
        for t in tables.values { t.freeze() }
        let chunk = (refs.count + workers - 1) / workers
        let seed = WorkerSeed(sources: sources, options: options, tables: tables, nodeIndex: nodeIndex, groupIndex: groupIndex,
                              propertyDefsByType: propertyDefsByType, constraintCache: constraintCache, checkedTypes: checkedTypes)
        let results = Mutex([(nodes: [ResolvedNode], diagnostics: [Diagnostic])](repeating: ([], []), count: workers))
        DispatchQueue.concurrentPerform(iterations: workers) { i in
            let part = refs[min(refs.count, i * chunk)..<min(refs.count, (i + 1) * chunk)]
            let worker = seed.checker()
            let nodes = part.compactMap(worker.checkNodeTemplate)
            results.withLock { $0[i] = (nodes, worker.diagnostics) }
        }
        let parts = results.withLock { $0 }
        for p in parts { diagnostics += p.diagnostics }
        return parts.flatMap(\.nodes)
    }

    /// What a worker checker shares with the checker that starts it: all of it read-only while
    /// the node templates are checked.
    struct WorkerSeed: Sendable {
        var sources: SourceSet
        var options: CheckOptions
        var tables: [String: TypeTable]
        var nodeIndex: [String: NodeRef]
        var groupIndex: [String: (file: String, group: MemberDefinition)]
        var propertyDefsByType: [ObjectIdentifier: [String: PropertyDefinition]]
        var constraintCache: [ObjectIdentifier: [Constraint]]
        var checkedTypes: Set<ObjectIdentifier>

        func checker() -> Checker {
            let w = Checker(sources: sources, options: options)
            w.tables = tables
            w.nodeIndex = nodeIndex
            w.groupIndex = groupIndex
            w.propertyDefsByType = propertyDefsByType
            w.constraintCache = constraintCache
            w.checkedTypes = checkedTypes
            return w
        }
    }
}
