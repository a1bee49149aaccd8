#ifndef CANCELQ_HEAP_TUNING_H
#define CANCELQ_HEAP_TUNING_H

/// Keeps up to `bytes` of freed memory in the process instead of returning it to the kernel
/// (glibc's M_TRIM_THRESHOLD). Returns 1 on success, 0 where unsupported.
int cancelq_keep_freed_memory(int bytes);

#endif
