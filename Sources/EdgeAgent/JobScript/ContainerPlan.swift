import Foundation

/// One container of a pod, resolved: everything its launch needs, all validated.
public struct ContainerPlan: Sendable, Hashable {
    public enum Kind: String, Sendable { case initContainer = "init", regular = "run" }

    /// A bind of a host path into the container.
    public struct Mount: Sendable, Hashable {
        public var source: String
        public var target: String
        public var readOnly: Bool
        /// Checks made when the container starts, in order: `path` (symlinks followed) must
        /// lie inside `root`; the last path resolved is what is bound. Empty for a pod volume
        /// bound whole (a folder the agent made). A `subPath` must stay in its volume (a
        /// symlink planted by an earlier container cannot lead out), a `hostPath` in its
        /// allowed folder.
        public var confinement: [Confinement] = []

        public struct Confinement: Sendable, Hashable {
            public var root: String
            public var path: String
        }
    }

    public var kind: Kind
    public var index: Int
    public var name: String
    public var image: String
    /// `command`, when the container sets one (after `$(VAR)` expansion).
    public var command: [String]
    /// `args` (after `$(VAR)` expansion).
    public var args: [String]
    public var workingDir: String?
    /// Environment in Kubernetes order (envFrom first, then env; later entries win).
    public var environment: [(name: String, value: String)]
    public var mounts: [Mount]
    public var postStart: [String]?
    public var preStop: [String]?
    /// Startup, liveness and readiness probes, in that order (`Probes.swift`).
    var probes: [ProbePlan] = []

    /// Files in the pod folder for this container: `run-<name>.out` / `init-<name>.out`, …
    public var filePrefix: String { "\(kind.rawValue)-\(name)" }
    /// The environment file (NUL-separated `NAME=VALUE`, mode 0600).
    public var envFile: String { "\(filePrefix).env" }
    /// The shell function in the job script that starts this container.
    public var functionName: String { "dte_\(kind == .initContainer ? "init" : "run")_\(index)" }

    /// The environment with later duplicates winning, in first-seen order.
    public var effectiveEnvironment: [(name: String, value: String)] {
        var order: [String] = []
        var values: [String: String] = [:]
        for (name, value) in environment {
            if values[name] == nil { order.append(name) }
            values[name] = value
        }
        return order.map { ($0, values[$0] ?? "") }
    }

    public static func == (lhs: ContainerPlan, rhs: ContainerPlan) -> Bool {
        lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.command == rhs.command && lhs.args == rhs.args
            && lhs.mounts == rhs.mounts && lhs.environment.map(\.name) == rhs.environment.map(\.name)
            && lhs.environment.map(\.value) == rhs.environment.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(kind)
    }
}

/// Kubernetes' `$(VAR)` expansion in command, args and env values: `$(NAME)` becomes the
/// value of an earlier variable, `$$` becomes `$`, anything else stays as written. This is
/// text substitution, never shell.
enum DependentVariables {
    static func expand(_ text: String, _ lookup: (String) -> String?) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            let char = text[index]
            let next = text.index(after: index)
            guard char == "$", next < text.endIndex else {
                out.append(char)
                index = next
                continue
            }
            if text[next] == "$" {
                out.append("$")
                index = text.index(after: next)
            } else if text[next] == "(", let close = text[next...].firstIndex(of: ")") {
                let name = String(text[text.index(after: next)..<close])
                if let value = lookup(name) {
                    out += value
                } else {
                    out += text[index...close]
                }
                index = text.index(after: close)
            } else {
                out.append(char)
                index = next
            }
        }
        return out
    }
}
