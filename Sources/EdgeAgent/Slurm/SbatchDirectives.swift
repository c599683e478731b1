import Foundation

/// A request in Slurm's terms: the `sbatch` options of the CLI backend (written as `#SBATCH`
/// lines at the head of the job script) and the `--gres` both Slurm backends ask for.
extension BatchJobRequest {
    /// `--gres` value, when the pod asks for GPUs.
    public var gres: String? {
        guard gpus > 0 else { return nil }
        if let model = gpuModel { return "gpu:\(model):\(gpus)" }
        return "gpu:\(gpus)"
    }

    /// The sbatch long options for this request (without the script).
    public var sbatchOptions: [String] {
        var options = [
            "--job-name=\(name)",
            "--output=\(workDir)/job.out",
            "--chdir=\(workDir)",
            "--nodes=\(nodeCount)",
            "--ntasks=\(nodeCount)",
            "--cpus-per-task=\(cpusPerTask)",
            "--mem=\(memoryMiB)M",
            "--comment=\(comment)",
        ]
        if nodeCount > 1 { options.append("--ntasks-per-node=1") }
        if let gres { options.append("--gres=\(gres)") }
        if let minutes = timeLimitMinutes { options.append("--time=\(minutes)") }
        if let partition { options.append("--partition=\(partition)") }
        if let account { options.append("--account=\(account)") }
        if let qos { options.append("--qos=\(qos)") }
        if !afterOK.isEmpty { options.append("--dependency=afterok:" + afterOK.joined(separator: ":")) }
        if hold == true { options.append("--hold") }
        if let userID { options.append("--uid=\(userID)") }
        if let groupID { options.append("--gid=\(groupID)") }
        options.append(contentsOf: extraFlags)
        return options
    }
}
