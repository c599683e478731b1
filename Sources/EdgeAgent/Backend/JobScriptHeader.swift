/// The script a pod's job runs: the runner, headed the way its scheduler reads it.
extension BackendKind {
    /// Slurm reads the request from `#SBATCH` lines at the head of the script (the CLI's
    /// sbatch parses them; libslurm's descriptor carries the same values, and the lines keep the
    /// stored script readable on its own). HTCondor takes the request from the submit
    /// description, so its script is the runner alone, under the site's shell. The scheduler
    /// keeps the script it was given, so what runs never depends on a file in the pod folder
    /// (which the job's user may write).
    public func jobScript(request: BatchJobRequest, runner: String, shell: String = "/bin/bash") -> String {
        var lines = ["#!\(shell)"]
        switch self {
        case .slurm: lines += request.sbatchOptions.map { "#SBATCH \($0)" }
        case .htcondor: break
        }
        var body = Substring(runner)
        if body.hasPrefix("#!") { body = body.drop { $0 != "\n" }.dropFirst() }
        return lines.joined(separator: "\n") + "\n" + body
    }
}
