import CSlurm
import Foundation

/// glibc malloc settings that keep the agent's memory flat with many pods.
public enum MallocTuning {
    /// libslurm's answer for every job is large and freed right after the poll; glibc keeps
    /// freed heap pages unless asked to give them back.
    static func releaseFreedMemory() {
        _ = malloc_trim(0)
    }

    /// Fewer malloc arenas: with one per thread (glibc's default, up to 8 per core) freed
    /// memory stays spread over arenas that are rarely reused.
    public static func limitMallocArenas() {
        _ = mallopt(M_ARENA_MAX, 2)
    }
}
