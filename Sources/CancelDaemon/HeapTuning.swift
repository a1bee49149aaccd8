import CProcess

/// glibc returns freed memory at the top of the heap to the kernel once more than 128 KiB is free,
/// and the daemon's steady state frees and reallocates about that much on every loop turn: the
/// kernel then spends its time faulting in and zeroing the same pages again. Measured with
/// `cancelq bench drain`: 3,300–3,800 jobs/s before, 5,800–6,200 after, peak RSS unchanged (40 MiB).
public enum HeapTuning {
    public static func keepFreedMemoryUpTo(megabytes: Int32 = 32) {
        _ = cancelq_keep_freed_memory(megabytes << 20)
    }
}

/// The daemon holds the ZEUS key in memory: no core file may carry it, and no other process of
/// the same user may read its memory (a non-dumpable process's /proc files belong to root).
public enum CoreDumps {
    /// Returns the error text when the kernel refused.
    public static func disable() -> String? {
        cancelq_disable_core_dumps() == 0 ? nil : errnoText()
    }
}
