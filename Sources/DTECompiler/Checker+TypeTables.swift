import DTEModel

/// Phase 1: the type table of each file — the normative types, the file's own types and,
/// transitively, its imports' (prefixed where imported with a namespace_prefix).
extension TypeTables {
    static func build(_ sources: SourceSet, options: CheckOptions, diagnostics: inout [Diagnostic]) -> TypeTables {
        let normative = TypeTable(NormativeTypes.definitions)
        /// The file's own types and its imports'; import cycles are walked once.
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
        func report(_ severity: Severity, _ code: String, _ message: String, hint: String, _ t: TypeDefinition) {
            diagnostics.append(Diagnostic(severity, code: code, message, hint: hint, file: t.source.file, mark: t.source.mark, path: t.source.path))
        }

        var byFile: [String: TypeTable] = [:]
        /// Tables by what they hold: files that see the same types (every site file importing the
        /// DTE types) share one.
        var built: [String: TypeTable] = [:]
        for f in sources.allFiles {
            let visible = exports(f.path)
            // a file that defines and imports no types sees the normative table itself
            guard !visible.isEmpty else {
                byFile[f.path] = normative
                continue
            }
            var table = normative.builder()
            let own = Set(f.template.types.map(ObjectIdentifier.init))
            for (name, t) in visible {
                guard let existing = table.add(t, as: name) else { continue }
                let here = own.contains(ObjectIdentifier(t)) ? t : existing
                let other = here === t ? existing : t
                if existing.isNormative && !options.strict {
                    // type files written for tosca-parser restate normative types (tosca.datatypes.Root):
                    // the normative definition stands, as normative names are the profile's
                    if own.contains(ObjectIdentifier(t)) {
                        report(.warning, "normative-redefinition", "\(t.kind.label) \"\(name)\" restates a TOSCA normative type; DTE uses the normative definition",
                               hint: "remove it from this file (dte validate --strict refuses it)", t)
                    }
                } else if existing.isNormative {
                    report(.error, "duplicate-type", "\(t.kind.label) \"\(name)\" redefines a TOSCA normative type",
                           hint: "choose another name, e.g. with your organisation's prefix", t)
                } else if own.contains(ObjectIdentifier(here)) || f.isRoot {
                    report(.error, "duplicate-type",
                           "\(t.kind.label) \"\(name)\" is defined twice: here and in \(other.source.file):\(other.source.mark.line)",
                           hint: "keep one definition and import it where needed", here)
                }
            }
            let key = visible.map { "\($0.0)\u{0}\(UInt(bitPattern: ObjectIdentifier($0.1).hashValue))" }.joined(separator: "\u{1}")
            if let same = built[key] {
                byFile[f.path] = same
            } else {
                let t = table.build()
                built[key] = t
                byFile[f.path] = t
            }
        }
        var distinct: Set<ObjectIdentifier> = []
        let tables = Dictionary(byFile.values.map { (ObjectIdentifier($0), $0) }, uniquingKeysWith: { a, _ in a }).values
        for t in tables {
            for kind in TypeKind.allCases { for d in t.all(kind) { distinct.insert(ObjectIdentifier(d)) } }
        }
        return TypeTables(byFile: byFile, typeCount: distinct.count)
    }
}
