// What the operating system reports about memory, for decisions made at load time.
#pragma once

#include <cstdint>
#include <optional>

namespace moe {

// Bytes the kernel estimates can be allocated without swapping (Linux MemAvailable: free
// memory plus reclaimable page cache). nullopt where it is not reported.
std::optional<uint64_t> AvailableMemoryBytes();

}  // namespace moe
