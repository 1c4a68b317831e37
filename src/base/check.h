// MOE_CHECK (always on) and MOE_DCHECK (debug builds) guard our own invariants. Never use them
// on anything read from a file, a request or a flag: those return Status.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace moe::internal {
[[noreturn]] inline void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "moe: internal error: check failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}
}  // namespace moe::internal

#define MOE_CHECK(cond) \
  ((cond) ? (void)0 : ::moe::internal::CheckFailed(#cond, __FILE__, __LINE__))
#ifdef NDEBUG
#define MOE_DCHECK(cond) ((void)0)
#else
#define MOE_DCHECK(cond) MOE_CHECK(cond)
#endif
