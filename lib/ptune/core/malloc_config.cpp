#include "ptune/core/malloc_config.h"

#include <malloc.h>

#include <climits>
#include <cstdlib>

namespace ptune {

void keep_freed_memory() {
#if defined(__GLIBC__)
  if (std::getenv("PTUNE_KEEP_MALLOC")) return;
  mallopt(M_MMAP_MAX, 0);              // no mmap per large block: reuse the heap's pages
  mallopt(M_TRIM_THRESHOLD, INT_MAX);  // never give the heap's top back to the kernel
#endif
}

}  // namespace ptune
