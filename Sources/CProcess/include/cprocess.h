#ifndef CANCELQ_CPROCESS_H
#define CANCELQ_CPROCESS_H

/// mallopt(M_TRIM_THRESHOLD, bytes): keep up to `bytes` of freed heap instead of returning it.
int cancelq_keep_freed_memory(int bytes);

/// No core dump and no ptrace by other processes of the same user: the process holds the ZEUS
/// key. prctl is variadic, which Swift cannot call. Returns 0, or -1 with errno.
int cancelq_disable_core_dumps(void);

#endif
