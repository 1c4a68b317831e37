// Safetensors writer, the layout io/safetensors.h reads: an 8-byte little-endian header length,
// a JSON header (every tensor's dtype, PyTorch-order shape and [begin, end) data offsets, plus
// "__metadata__" {"format": "pt"}) padded with spaces so the data section starts at a multiple
// of 8, then the tensors back to back in declaration order (no holes, as the reference reader
// requires). Data is streamed in pieces of any size, so a multi-GB shard never sits in memory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace moe {

class SafetensorsWriter {
 public:
  // Declares the next tensor; `dtype` is a safetensors name ("F32", "BF16", "F8_E4M3", ...).
  // Fails on an unknown dtype, a name declared twice or an element count that overflows.
  Status AddTensor(const std::string& name, const std::string& dtype, const std::vector<uint64_t>& shape);
  // A string entry of "__metadata__" (default: format = pt).
  void SetMetadata(const std::string& key, const std::string& value);

  // The header as written: length prefix, JSON, space padding. Fails when a tensor would start
  // at a data offset that is not a multiple of its element size (declare wider dtypes first, as
  // the reference writer orders them), since readers map elements in place.
  Result<std::string> Header() const;

  // Creates `path` and writes the header. Then Write the data section in order, then Finish.
  Status Begin(const std::string& path);
  // The next `n` bytes of the data section (may span tensors); data == nullptr leaves a
  // sparse hole that reads back as zeros.
  Status Write(const void* data, uint64_t n);
  // Checks that every declared byte was written, and closes the file.
  Status Finish();
  ~SafetensorsWriter();

  size_t num_tensors() const { return tensors_.size(); }
  uint64_t TensorBytes(size_t i) const { return tensors_[i].end - tensors_[i].begin; }
  uint64_t data_bytes() const { return tensors_.empty() ? 0 : tensors_.back().end; }

 private:
  struct Info {
    std::string name, dtype;
    std::vector<uint64_t> shape;
    uint64_t begin, end;  // offsets into the data section
  };
  std::vector<Info> tensors_;
  std::vector<std::pair<std::string, std::string>> metadata_ = {{"format", "pt"}};
  FILE* f_ = nullptr;
  std::string path_;
  uint64_t written_ = 0;  // bytes of the data section written so far
};

}  // namespace moe
