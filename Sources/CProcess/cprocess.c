#include "cprocess.h"
#include <stdlib.h> /* defines __GLIBC__ on glibc systems; test it only after a libc header */

#if defined(__GLIBC__)
#include <malloc.h>
int cancelq_keep_freed_memory(int bytes) { return mallopt(M_TRIM_THRESHOLD, bytes); }
#else
int cancelq_keep_freed_memory(int bytes) { (void)bytes; return 0; }
#endif

#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/resource.h>
int cancelq_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) return -1;
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
#else
int cancelq_disable_core_dumps(void) { return 0; }
#endif
