#include "base/allocator.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace moe {

void KeepTransientMemory() {
#if defined(__GLIBC__)
  // Blocks under 256 MB come from the heap, and up to 1 GB free at its top stays mapped.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace moe
