// GGUF (version 2 and 3) reader: header, every metadata value type including nested arrays,
// tensor infos and the aligned data section, all validated against the file size before any
// allocation. Tensor shapes are flipped from GGUF's [ne0=cols, ne1=rows, ...] to PyTorch
// order here and nowhere else.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/status.h"
#include "io/mapped_file.h"
#include "io/tensor_catalog.h"

namespace moe {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view GgufTypeName(GgufType t);

struct GgufValue;
struct GgufArray {
  GgufType elem_type = GgufType::kU8;
  std::vector<GgufValue> items;
};

struct GgufValue {
  GgufType type = GgufType::kU8;
  // Integers widen to int64/uint64, floats to double; the original type stays in `type`.
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> v;

  bool IsInteger() const;
  bool IsNumber() const { return IsInteger() || type == GgufType::kF32 || type == GgufType::kF64; }
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsDouble() const;
  const std::string* AsString() const { return std::get_if<std::string>(&v); }
  const GgufArray* AsArray() const {
    auto* p = std::get_if<std::shared_ptr<GgufArray>>(&v);
    return p ? p->get() : nullptr;
  }
  std::optional<bool> AsBool() const;
};

// Limits that keep hostile files from causing huge allocations or deep recursion.
struct GgufLimits {
  static constexpr uint64_t kMaxStringLength = 64ull << 20;  // one chat template or token
  static constexpr uint64_t kMaxArrayLength = 1ull << 26;
  static constexpr int kMaxArrayDepth = 4;
  static constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
};

class GgufFile {
 public:
  static Result<GgufFile> Open(const std::string& path, const LoadOptions& opts = {});
  // Parses bytes already in memory (tests, fuzzing); `name` appears in errors.
  static Result<GgufFile> Parse(std::shared_ptr<MappedFile> file, const std::string& name);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return path_; }

  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* Find(const std::string& key) const {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
  }
  // Typed lookups that explain what was wrong (missing key, wrong type).
  Result<int64_t> GetInt(const std::string& key) const;
  Result<double> GetDouble(const std::string& key) const;
  Result<std::string> GetString(const std::string& key) const;
  std::optional<int64_t> GetIntOr(const std::string& key) const;

  const TensorCatalog& tensors() const { return catalog_; }
  TensorCatalog& mutable_tensors() { return catalog_; }

 private:
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> kv_;
  TensorCatalog catalog_;
};

// Block size (elements) and block bytes of any ggml type id, for layout validation; nullopt
// for ids that are not (or no longer) defined.
std::optional<std::pair<uint64_t, uint64_t>> GgmlTypeLayout(uint32_t ggml_type);

}  // namespace moe
