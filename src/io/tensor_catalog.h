// What a checkpoint reader produces: named tensors (type, PyTorch-order shape, bytes inside a
// mapped file) plus the file that keeps those bytes alive. Readers validate every entry
// against the file before it lands here, so consumers can trust offsets and sizes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/mapped_file.h"
#include "tensor/dtype.h"

namespace moe {

struct TensorEntry {
  std::string name;
  uint32_t ggml_type = 0;          // GGUF type id (also for types we cannot compute with)
  std::optional<DType> dtype;      // set when the type is supported
  std::vector<uint64_t> shape;     // PyTorch order: [..., rows, cols]
  const uint8_t* data = nullptr;   // inside the mapped file
  uint64_t nbytes = 0;
  uint64_t file_offset = 0;        // absolute offset in the file, for error messages
  std::string file;                // path of the file holding the bytes
  std::string type_name;           // the file's own name of the type ("F8_E4M3"); empty: GGUF's

  uint64_t NumElements() const {
    uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

class TensorCatalog {
 public:
  void Add(TensorEntry e) {
    index_[e.name] = entries_.size();
    entries_.push_back(std::move(e));
  }
  const TensorEntry* Find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }
  bool Contains(const std::string& name) const { return index_.count(name) != 0; }
  const std::vector<TensorEntry>& entries() const { return entries_; }
  void KeepAlive(std::shared_ptr<MappedFile> f) { files_.push_back(std::move(f)); }
  // MappedFile::AllowWrites on every file: tensors may then be rewritten in place (their
  // bytes no longer match the file's afterwards; entries keep the file's offsets).
  Status AllowWrites() {
    for (auto& f : files_) MOE_RETURN_IF_ERROR(f->AllowWrites());
    return Status();
  }

 private:
  std::vector<TensorEntry> entries_;
  std::map<std::string, size_t> index_;
  std::vector<std::shared_ptr<MappedFile>> files_;
};

// Shape as "[a, b, c]" for messages.
std::string ShapeString(const std::vector<uint64_t>& shape);

}  // namespace moe
