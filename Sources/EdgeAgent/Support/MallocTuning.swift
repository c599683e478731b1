import CSlurm
import Foundation

/// glibc malloc settings that keep the agent's memory flat with many pods.
public enum MallocTuning {
    /// libslurm's answer for every job is large and freed right after the poll; glibc keeps
    /// freed heap pages unless asked to give them back.
    static func releaseFreedMemory() {
        _ = malloc_trim(0)
    }

    /// Blocks of this size and more are mapped on their own, and unmapped when freed.
    static let mmapThreshold: Int32 = 64 * 1024

    /// Applies the settings below; call once at start, before threads allocate.
    public static func configure() {
        limitMallocArenas()
        mapLargeBlocks()
    }

    /// Fewer malloc arenas: with one per thread (glibc's default, up to 8 per core) freed
    /// memory stays spread over arenas that are rarely reused.
    public static func limitMallocArenas() {
        _ = mallopt(M_ARENA_MAX, 2)
    }

    /// A fixed mmap threshold. glibc's own one rises to the largest block freed so far (up to
    /// 32 MiB): after the first poll, libslurm's job array and receive buffer (megabytes for
    /// thousands of jobs) come from the heap, and the heap stays fragmented by them between
    /// polls. Mapped on their own, they go back to the system as soon as they are freed.
    static func mapLargeBlocks() {
        _ = mallopt(M_MMAP_THRESHOLD, mmapThreshold)
    }
}
