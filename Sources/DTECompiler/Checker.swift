import DTEModel
import Foundation

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

/// Type-checks loaded files in ordered phases, each a function from the previous phase's
/// immutable value to its own, collecting every diagnostic:
///
/// 1. type tables (`TypeTables`): the types each file sees;
/// 2. type definitions (`CheckedTypes`): every definition checked, constraints parsed, constant defaults evaluated;
/// 3. template index (`TemplateIndex`): node templates by global name, groups, inputs and their values;
/// 4. node templates (`CheckedNodes`): properties, attributes, capabilities, interfaces, artifacts and
///    requirements, over all cores;
/// 5. members (`CompiledModel`): relationship templates, groups, policies, outputs, substitution mappings;
/// 6. DTE rules (`DTEChecks`): what DTE asks of the resolved model beyond TOSCA.
///
/// The work inside a phase is done by `CheckScope`s, one per worker, that read the phase's input
/// and collect their own diagnostics.
public enum Checker {
    /// Checks every loaded file; returns the resolved model and the diagnostics of all phases.
    public static func run(_ sources: SourceSet, options: CheckOptions = CheckOptions()) -> (model: CompiledModel, diagnostics: [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        let tables = TypeTables.build(sources, options: options, diagnostics: &diagnostics)
        let types = CheckedTypes.check(tables, sources: sources, options: options, diagnostics: &diagnostics)
        let index = TemplateIndex.build(types, diagnostics: &diagnostics)
        let nodes = CheckedNodes.check(index, diagnostics: &diagnostics)
        var model = CheckedNodes.checkMembers(nodes, diagnostics: &diagnostics)
        model.files = sources.allFiles.map(\.display)
        model.typeCount = tables.typeCount
        let dte = DTEChecks.run(model)
        if !dte.isEmpty {
            // a DTE rule says more than the generic pattern constraint on the same value
            let places = Set(dte.map { "\($0.file ?? ""):\($0.line ?? 0):\($0.column ?? 0)" })
            diagnostics.removeAll { $0.code == "constraint-pattern" && places.contains("\($0.file ?? ""):\($0.line ?? 0):\($0.column ?? 0)") }
        }
        diagnostics += dte
        return (model, diagnostics)
    }
}

// MARK: - what the phases produce

/// Phase 1: one type table per file (the normative types, the file's own and its imports').
struct TypeTables: Sendable {
    let byFile: [String: TypeTable]
    /// Distinct type definitions over all tables.
    let typeCount: Int
}

/// Phase 2: the type definitions checked, with what every later phase reuses.
struct CheckedTypes: Sendable {
    let sources: SourceSet
    let options: CheckOptions
    let tables: TypeTables
    /// The typed constraints of each schema (and of each data type with constraints), by identity.
    let constraints: [ObjectIdentifier: [Constraint]]
    /// The value of each property default that holds no function, by the definition's identity.
    let defaults: [ObjectIdentifier: Value?]
}

/// A node template where the template index holds it. A class: phases hand it on by reference
/// (a node template is a large value; copying it cost a retain per field). The template is read
/// in place in its topology's list (one reference to the list, not a copy of each template);
/// only a `copy` node, completed from its source, is a value of its own.
final class NodeRef: Sendable {
    let file: String
    let display: String
    let type: TypeDefinition?
    let table: TypeTable
    private let templates: [NodeTemplate]
    private let position: Int
    private let completed: NodeTemplate?

    var template: NodeTemplate {
        _read {
            if completed == nil { yield templates[position] } else { yield completed! }
        }
    }

    init(file: String, display: String, templates: [NodeTemplate], position: Int, completed: NodeTemplate?,
         type: TypeDefinition?, table: TypeTable) {
        self.file = file
        self.display = display
        self.templates = templates
        self.position = position
        self.completed = completed
        self.type = type
        self.table = table
    }
}

/// Phase 3: node templates by global name (with `copy` applied), groups, and each topology's inputs.
struct TemplateIndex: Sendable {
    let types: CheckedTypes
    let nodes: [String: NodeRef]
    let groups: [String: (file: String, group: MemberDefinition)]
    /// The value each input has for this run, by file path and input name (absent: no value).
    let inputValues: [String: [String: YAMLNode]]
    /// Node templates in file order, as they are checked.
    let order: [NodeRef]
    let inputs: [ResolvedParameter]
}

/// Phase 4: node templates checked and resolved, in file order.
struct CheckedNodes: Sendable {
    let index: TemplateIndex
    let nodes: [ResolvedNode]
}
