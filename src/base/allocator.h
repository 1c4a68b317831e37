// Process-wide allocator policy for the engine's transient buffers.
#pragma once

#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace moe {

// Keeps freed memory of up to a few hundred MB in the process instead of returning it to the
// kernel: every layer of a forward pass allocates and frees activation buffers of 1-150 MB
// (MLA's absorbed queries for 512 tokens of DeepSeek-V3 are 134 MB), and with glibc's
// defaults (a dynamic mmap threshold that tops out at 32 MB) many of them come from fresh
// mmap()s whose pages fault in, zeroed, inside the parallel products (perf: 3-8% of
// prefill in page faults and their lock; the same policy set through glibc's environment
// tunables lifted qwen3moe-bench pp512 by 7%). Peak resident memory is unchanged (it is the
// largest working set either way); the pages simply stay resident after the batch. No-op
// with allocators other than glibc's.
void KeepTransientMemory();

// An allocator that leaves new elements default-initialized (for float: unfilled) where
// std::allocator would zero them, for transient buffers whose every element is written
// before it is read: a 512-token prefill's MLA buffers are 16 MB each, and zero-filling
// them took 2% of deepseek-v3-bench Q8_0 pp512 (memset in the profile).
template <class T>
struct Unfilled : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = Unfilled<U>;
  };
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
      ::new (static_cast<void*>(p)) U;
    } else {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
  }
};
using UnfilledFloats = std::vector<float, Unfilled<float>>;

}  // namespace moe
