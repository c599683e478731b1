import Foundation

/// The command line that starts one container under the site's runtime. Every word coming
/// from the pod is passed through `Shell.quote`; the environment travels in files
/// (`<kind>-<container>.env`, mode 0600), never in the script.
public struct ContainerRuntime: Sendable {
    public var configuration: AgentConfiguration
    public var podUID: String
    /// `slurm-job.vk.io/image-root`: the prefix of this pod's image names (apptainer/singularity).
    public var imageRoot: String?
    /// Options the pod adds to the runtime's (`singularity-options`, `enroot-options`), validated.
    public var podOptions: [String] = []
    /// `slurm-job.vk.io/mpi-flags`: containers are launched through `srun` with these options; nil: directly.
    public var srunOptions: [String]?

    public init(configuration: AgentConfiguration, podUID: String) {
        self.configuration = configuration
        self.podUID = podUID
    }

    var kind: ContainerRuntimeKind { configuration.runtime }

    /// Rejects what this runtime cannot run faithfully, with a message naming the container.
    func check(_ plan: ContainerPlan) throws(AgentError) {
        let name = plan.name
        switch kind {
        case .none, .bwrap:
            if plan.command.isEmpty && plan.args.isEmpty {
                throw AgentError(.unsupported, "container '\(name)': the \(kind.rawValue) runtime has no image entrypoint; set command")
            }
            if kind == .none, let first = (plan.command + plan.args).first, first.contains("=") {
                throw AgentError.invalid("container '\(name)': a program name cannot contain '=' with the none runtime")
            }
        case .apptainer, .singularity, .podman, .enroot:
            guard !plan.image.isEmpty, !PodValidation.hasNUL(plan.image), !plan.image.contains("\n") else {
                throw AgentError.invalid("container '\(name)': image is required")
            }
            for mount in plan.mounts where mount.source.contains(":") || mount.source.contains(",")
                || mount.target.contains(":") || mount.target.contains(",") {
                throw AgentError.invalid("container '\(name)': mount paths cannot contain ':' or ',' with the \(kind.rawValue) runtime")
            }
            if kind == .apptainer || kind == .singularity {
                for (env, _) in plan.environment where !Self.isShellName(env) {
                    throw AgentError.invalid("container '\(name)': env name '\(env)' is not a valid name for \(kind.rawValue)")
                }
            }
            if kind == .enroot, plan.workingDir != nil {
                throw AgentError(.unsupported, "container '\(name)': workingDir is not supported by the enroot runtime")
            }
        }
    }

    static func isShellName(_ text: String) -> Bool {
        guard let first = text.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
    }

    /// The image reference for apptainer/singularity: `docker://` (the configured prefix)
    /// unless the image is an absolute path or already has a scheme.
    func apptainerImage(_ image: String) -> String {
        if image.hasPrefix("/") || image.contains("://") { return image }
        if let root = imageRoot { return image.hasPrefix(root) ? image : root + image }
        return configuration.imagePrefix + image
    }

    /// The runtime's program: `runtime-path`, else its name.
    var program: String { configuration.runtimePath ?? kind.rawValue }

    /// `exec` of a launch line, through `srun` when the pod asks for an MPI launch or more
    /// than one node (`--overlap`: the containers' steps share the job's allocation; one task
    /// per node of the job, so a container runs once on every node).
    var launcher: String {
        guard let options = srunOptions else { return "exec" }
        return "exec srun --overlap --nodes=\"${SLURM_JOB_NUM_NODES:-1}\" --ntasks=\"${SLURM_NTASKS:-1}\" \(Shell.words(options)) --"
            .replacingOccurrences(of: "  ", with: " ")
    }

    /// What each srun task runs for the bwrap runtime: `PROGRAM COUNT ARGS… COMMAND…`, with
    /// the task's own Slurm and PMI variables added to bwrap's COUNT arguments.
    static let srunTask = #"p=$1 n=$2; shift 2; o=("${@:1:n}"); shift "$n"; "#
        + #"for v in ${!SLURM@} ${!PMI@}; do o+=(--setenv "$v" "${!v}"); done; exec "$p" "${o[@]}" -- "$@""#

    /// enroot writes a registry as `docker://REGISTRY#IMAGE`.
    func enrootImage(_ image: String) -> String {
        if image.contains("://") { return image }
        let parts = image.split(separator: "/", maxSplits: 1)
        if parts.count == 2, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            return "docker://\(parts[0])#\(parts[1])"
        }
        return "docker://\(image)"
    }

    /// Bash lines (the body of the container's function) that start `plan`, given the
    /// command to run in it (the container's own, or a lifecycle hook's).
    func launchLines(_ plan: ContainerPlan, podDir: String, hook: [String]? = nil) -> [String] {
        let envFile = Shell.quote("\(podDir)/\(plan.envFile)")
        var lines = ["dte_load_env \(envFile)"]
        let argv = hook ?? (plan.command + plan.args)
        if kind != .none { lines += confinementLines(plan) }
        /// A mount's source as a bash word: as written, or the location checked when the
        /// container started (`"$dte_mN_path"`; bwrap binds the checked descriptor instead).
        func source(_ index: Int) -> String {
            plan.mounts[index].confinement.isEmpty ? Shell.quote(plan.mounts[index].source) : "\"$dte_m\(index)_path\""
        }
        switch kind {
        case .none:
            if let dir = plan.workingDir { lines.append("cd \(Shell.quote(dir)) || exit 1") }
            lines.append("\(hook == nil ? launcher : "exec") env \"${DTE_ENV[@]}\" \(Shell.words(argv))")
        case .bwrap:
            lines.append("local -a a=(--die-with-parent)")
            // /tmp is shared by the container and its hooks (a folder of the pod), except for
            // copies started by srun, which get a /tmp of their own (a tmpfs) on every node
            lines.append(srunOptions != nil && hook == nil ? "dte_bwrap_root a || exit 1"
                         : "dte_bwrap_root a \(Shell.quote("\(podDir)/tmp/\(plan.filePrefix)")) || exit 1")
            for (level, children) in Self.rebuildLevels(plan.mounts.map(\.target)) {
                lines.append("dte_bwrap_rebuild a \(Shell.quote(level)) \(Shell.words(children))")
            }
            for (index, mount) in plan.mounts.enumerated() {
                // a checked source is bound through the descriptor that was checked: no window
                // between the check and the bind in which a symlink could be swapped in
                let bind = mount.readOnly ? "--ro-bind" : "--bind"
                // through srun the container starts in a step of its own, which does not inherit
                // the checked descriptor: it binds the checked location instead
                lines.append(mount.confinement.isEmpty || (srunOptions != nil && hook == nil)
                    ? "a+=(\(bind) \(source(index)) \(Shell.quote(mount.target)))"
                    : "a+=(\(bind)-fd \"$dte_m\(index)\" \(Shell.quote(mount.target)))")
            }
            lines.append("a+=(--clearenv --setenv PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)")
            lines.append("local kv; for kv in \"${DTE_ENV[@]}\"; do a+=(--setenv \"${kv%%=*}\" \"${kv#*=}\"); done")
            if let dir = plan.workingDir { lines.append("a+=(--chdir \(Shell.quote(dir)))") }
            if hook == nil, srunOptions != nil {
                // each srun task starts bwrap itself, adding its own SLURM*, SLURMD* and PMI*/PMIX*
                // variables (rank, node, the MPI wire-up) after --clearenv
                lines.append("\(launcher) \(Shell.quote(configuration.bashPath)) -c \(Shell.quote(Self.srunTask)) dte-task "
                             + "\(Shell.quote(program)) \"${#a[@]}\" \"${a[@]}\" \(Shell.words(argv))")
            } else {
                lines.append("\(hook == nil ? launcher : "exec") \(Shell.quote(program)) \"${a[@]}\" -- \(Shell.words(argv))")
            }
        case .apptainer, .singularity:
            let hasCommand = hook != nil || !plan.command.isEmpty
            var words = [hasCommand ? "exec" : "run"] + configuration.apptainerOptions + podOptions
            words += ["--env-file", "\(podDir)/\(plan.filePrefix).apptainer-env"]
            var quoted = words.map(Shell.quote)
            for (index, mount) in plan.mounts.enumerated() {
                quoted += ["--bind", source(index) + Shell.quote(":\(mount.target)\(mount.readOnly ? ":ro" : "")")]
            }
            words = []
            if let dir = plan.workingDir { words += ["--pwd", dir] }
            words.append(apptainerImage(plan.image))
            quoted += (words + argv).map(Shell.quote)
            lines.append("\(hook == nil ? launcher : "exec") \(Shell.quote(program)) \(quoted.joined(separator: " "))")
        case .podman:
            let container = "dte-\(podUID)-\(plan.name)"
            var words = hook != nil ? ["exec"] : ["run", "--rm", "--name", container]
            lines.append("local -a a=()")
            lines.append("local kv; for kv in \"${DTE_ENV[@]}\"; do a+=(--env \"$kv\"); done")
            if let hook {
                lines.append("exec \(Shell.quote(program)) exec \"${a[@]}\" \(Shell.words([container] + hook))")
                return lines
            }
            var quoted = words.map(Shell.quote)
            for (index, mount) in plan.mounts.enumerated() {
                quoted += ["-v", source(index) + Shell.quote(":\(mount.target)\(mount.readOnly ? ":ro" : "")")]
            }
            words = []
            if let dir = plan.workingDir { words += ["-w", dir] }
            var rest = plan.args
            if let entry = plan.command.first {
                words += ["--entrypoint", Self.jsonArray([entry])]
                rest = Array(plan.command.dropFirst()) + plan.args
            }
            quoted += words.map(Shell.quote)
            lines.append("\(hook == nil ? launcher : "exec") \(Shell.quote(program)) \(quoted.joined(separator: " ")) \"${a[@]}\" \(Shell.words([plan.image] + rest))")
        case .enroot:
            let container = "dte-\(podUID)-\(plan.name)"
            if let hook {
                lines.append("exec \(Shell.quote(program)) exec \(Shell.words([container] + hook))")
                return lines
            }
            let image = Shell.quote("\(podDir)/images/\(plan.filePrefix).sqsh")
            lines.append("[[ -f \(image) ]] || \(Shell.quote(program)) import -o \(image) \(Shell.quote(enrootImage(plan.image))) || exit 1")
            lines.append("\(Shell.quote(program)) create --force --name \(Shell.quote(container)) \(image) || exit 1")
            lines.append("local -a a=(start \(Shell.words(configuration.enrootStartOptions + podOptions)))")
            lines.append("local kv; for kv in \"${DTE_ENV[@]}\"; do a+=(--env \"$kv\"); done")
            for (index, mount) in plan.mounts.enumerated() {
                lines.append("a+=(--mount \(source(index))\(Shell.quote(":\(mount.target)")))")
            }
            lines.append("\(srunOptions == nil ? "" : String(launcher.dropFirst(5)) + " ")\(Shell.quote(program)) \"${a[@]}\" \(Shell.words([container] + argv))")
            lines.append("local rc=$?")
            lines.append("\(Shell.quote(program)) remove --force \(Shell.quote(container)) >/dev/null 2>&1")
            lines.append("exit \"$rc\"")
        }
        return lines
    }

    /// Lines that open and check each confined mount's source when the container starts
    /// (symlinks followed, with its volume as the root) into `dte_mN` / `dte_mN_path`, and end
    /// the container with a message in its log when it leads outside.
    func confinementLines(_ plan: ContainerPlan) -> [String] {
        var lines: [String] = []
        for (index, mount) in plan.mounts.enumerated() where !mount.confinement.isEmpty {
            lines.append("local dte_m\(index) dte_m\(index)_path")
            for check in mount.confinement {
                lines.append("dte_pin dte_m\(index) \(Shell.quote(check.root)) \(Shell.quote(check.path))\(kind == .bwrap ? " keep" : "") || exit 1")
            }
        }
        return lines
    }

    /// For bwrap: system folders bound read-only (`/etc`, `/usr`) that a mount lies inside
    /// must be rebuilt level by level (tmpfs + binds of every other entry), since bwrap cannot
    /// create a mount point inside a read-only bind. Returns level → children to leave out.
    static func rebuildLevels(_ targets: [String]) -> [(String, [String])] {
        var levels: [String: Set<String>] = [:]
        for target in targets {
            let parts = target.split(separator: "/").map(String.init)
            guard let top = parts.first, ["etc", "usr"].contains(top), parts.count >= 2 else { continue }
            for depth in 1..<parts.count {
                let level = "/" + parts[0..<depth].joined(separator: "/")
                levels[level, default: []].insert(parts[depth])
            }
        }
        return levels.keys.sorted { $0.count < $1.count || ($0.count == $1.count && $0 < $1) }
            .map { ($0, levels[$0, default: []].sorted()) }
    }

    static func jsonArray(_ items: [String]) -> String {
        let data = (try? JSONEncoder().encode(items)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
