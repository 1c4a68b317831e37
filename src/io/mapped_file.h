// A read-only view of a whole file: memory-mapped (default) or read into anonymous memory
// (--mmap 0, with a progress bar), optionally locked in RAM (--mlock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"

namespace moe {

struct LoadOptions {
  bool mmap = true;
  bool mlock = false;
  bool progress = false;  // progress bar on stderr while reading (--mmap 0) and repacking
  // Model::Load: the weight types (kBF16, kQ8_0) rewritten in the tiled layouts of the
  // AVX-512 kernels where the CPU runs them (model/weights.h RepackWeights). Mapped pages
  // written become private memory, so a mapped model is repacked only when that memory is
  // there: the bytes to rewrite must stay within repack_memory_limit (0: 90% of what the
  // system reports available), else the weights keep their rows and Model::repack_skipped()
  // says why (a model larger than RAM, read from disk through the mapping, must not be
  // pulled into private memory).
  std::vector<DType> repack = {DType::kBF16, DType::kQ8_0};
  uint64_t repack_memory_limit = 0;
};

class MappedFile {
 public:
  // Read into memory (opts.mmap false), the bytes are placed so that file offset `align_at`
  // lands on a 64-byte boundary: a container whose data section starts at a 32-byte offset
  // (GGUF's default alignment) still gets its tensors on cache-line boundaries. Mapped, the
  // file's own alignment stands (mappings are page-aligned).
  static Result<std::shared_ptr<MappedFile>> Open(const std::string& path, const LoadOptions& opts,
                                                  uint64_t align_at = 0);
  // Wraps bytes already in memory (tests, fuzzing); `name` stands in for the path.
  static std::shared_ptr<MappedFile> FromBytes(std::vector<uint8_t> bytes, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  bool is_mapped() const { return mapped_; }
  // Makes the bytes writable by this process (never the file): a mapped file becomes
  // copy-on-write, so each page written turns into private memory. Load-time transforms
  // (weight repacking) rewrite tensors in place after this.
  Status AllowWrites();

 private:
  MappedFile() = default;
  std::string path_;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  size_t shift_ = 0;  // read into memory: data_ is this far into the anonymous mapping
  bool mapped_ = false;
  bool locked_ = false;
  std::vector<uint8_t> owned_;  // FromBytes only
};

}  // namespace moe
