#include "heap_tuning.h"
#include <stdlib.h> /* defines __GLIBC__ on glibc systems; test it only after a libc header */

#if defined(__GLIBC__)
#include <malloc.h>
int cancelq_keep_freed_memory(int bytes) { return mallopt(M_TRIM_THRESHOLD, bytes); }
#else
int cancelq_keep_freed_memory(int bytes) { (void)bytes; return 0; }
#endif
