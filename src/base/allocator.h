// Process-wide allocator policy for the engine's transient buffers.
#pragma once

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

}  // namespace moe
