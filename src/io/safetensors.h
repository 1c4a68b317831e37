// Safetensors reader: an 8-byte little-endian header length, a JSON header naming every tensor
// (dtype, PyTorch-order shape, [begin, end) byte offsets into the data section that follows),
// then the raw bytes. Every entry is validated against the file before it lands in the
// catalog: offsets inside the data section, byte size equal to the element count times the
// dtype size (overflow-checked), no two tensors sharing bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/status.h"
#include "io/mapped_file.h"
#include "io/tensor_catalog.h"

namespace moe {

// Limits that keep hostile files from causing huge allocations or deep recursion.
struct SafetensorsLimits {
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference reader's limit
  static constexpr int kMaxJsonDepth = 8;    // the format needs 3 (root, tensor, shape)
  // Rank 5 appears in multimodal checkpoints (conv3d patch embeddings), so allow some
  // headroom beyond what the text decoders bind (at most 3).
  static constexpr size_t kMaxDims = 8;
};

struct SafetensorsFile {
  std::string path;
  std::shared_ptr<MappedFile> file;
  uint64_t data_offset = 0;                     // 8 + header length
  std::map<std::string, std::string> metadata;  // string values of "__metadata__"
  TensorCatalog tensors;                        // names as stored, in file order of offsets
};

// Maps `path` and reads its header.
Result<SafetensorsFile> OpenSafetensors(const std::string& path, const LoadOptions& opts = {});
// Parses bytes already in memory (tests, fuzzing); `name` appears in errors.
Result<SafetensorsFile> ParseSafetensors(std::shared_ptr<MappedFile> file, const std::string& name);

// Deepest bracket nesting of a JSON text, ignoring brackets inside strings; stops early once
// past `limit`, so checking a hostile text costs one linear scan at most. Run before parsing
// untrusted JSON so nesting cannot exhaust memory.
int JsonNestingDepth(const char* text, uint64_t n, int limit);

// Bytes per element of a safetensors dtype name ("BF16" -> 2), or 0 when unknown.
uint64_t SafetensorsDTypeSize(const std::string& dtype);

}  // namespace moe
