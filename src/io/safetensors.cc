// Safetensors header parsing and validation (format: github.com/huggingface/safetensors,
// "Format" section). The JSON header is untrusted: its nesting depth is checked before
// parsing, parsing never throws, and every value's type is checked before it is read.
#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <string_view>
#include <vector>

namespace moe {

namespace {

using nlohmann::json;

// ggml_type for safetensors dtypes that GGUF cannot name (F8_E4M3, U8, BOOL, ...).
constexpr uint32_t kNoGgmlType = 0xffffffffu;

struct DTypeInfo {
  std::string_view name;
  uint64_t size;
  uint32_t ggml_type;
};
constexpr DTypeInfo kDTypes[] = {
    {"F32", 4, 0},   {"F16", 2, 1},           {"BF16", 2, 30},         {"F64", 8, 28},
    {"I8", 1, 24},   {"I16", 2, 25},          {"I32", 4, 26},          {"I64", 8, 27},
    {"U8", 1, kNoGgmlType},  {"U16", 2, kNoGgmlType},    {"U32", 4, kNoGgmlType},
    {"U64", 8, kNoGgmlType}, {"BOOL", 1, kNoGgmlType},   {"F8_E4M3", 1, kNoGgmlType},
    {"F8_E5M2", 1, kNoGgmlType}, {"F8_E8M0", 1, kNoGgmlType},
};

const DTypeInfo* FindDType(const std::string& name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return &d;
  return nullptr;
}

}  // namespace

int JsonNestingDepth(const char* p, uint64_t n, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (uint64_t i = 0; i < n; ++i) {
    char c = p[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > limit) return max_depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

namespace {

// A non-negative integer JSON value (JSON numbers like 3.0 are not accepted).
bool AsU64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

struct Raw {
  std::string name;
  const DTypeInfo* dtype;
  std::vector<uint64_t> shape;
  uint64_t begin, end;
};

Result<Raw> ParseEntry(const std::string& file, const std::string& key, const json& v) {
  Raw r{key, nullptr, {}, 0, 0};
  if (!v.is_object())
    return Status::Errorf("{}: tensor '{}' is a JSON {}, expected an object with dtype, shape, data_offsets",
                          file, key, v.type_name());
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string())
    return Status::Errorf("{}: tensor '{}' has no string 'dtype'", file, key);
  r.dtype = FindDType(dt->get<std::string>());
  if (!r.dtype)
    return Status::Errorf("{}: tensor '{}' has unknown dtype '{}'", file, key, dt->get<std::string>());
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array())
    return Status::Errorf("{}: tensor '{}' has no 'shape' array", file, key);
  if (sh->size() > SafetensorsLimits::kMaxDims)
    return Status::Errorf("{}: tensor '{}' has {} dimensions, at most {} are supported", file, key, sh->size(),
                          SafetensorsLimits::kMaxDims);
  for (const json& d : *sh) {
    uint64_t n = 0;
    if (!AsU64(d, &n))
      return Status::Errorf("{}: tensor '{}' has shape {}, expected non-negative integers", file, key, sh->dump());
    r.shape.push_back(n);
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !AsU64((*off)[0], &r.begin) ||
      !AsU64((*off)[1], &r.end))
    return Status::Errorf("{}: tensor '{}' needs 'data_offsets' [begin, end] of non-negative integers", file, key);
  return r;
}

}  // namespace

uint64_t SafetensorsDTypeSize(const std::string& dtype) {
  const DTypeInfo* d = FindDType(dtype);
  return d ? d->size : 0;
}

Result<SafetensorsFile> OpenSafetensors(const std::string& path, const LoadOptions& opts) {
  // Read into memory, the data section (after the 8-byte length and the JSON header) is put
  // on a cache line, as GgufFile::Open does; a bad length is ParseSafetensors' to report.
  uint64_t header_len = 0;
  if (!opts.mmap) std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(&header_len), 8);
  MOE_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path, opts, 8 + header_len));
  return ParseSafetensors(std::move(file), path);
}

Result<SafetensorsFile> ParseSafetensors(std::shared_ptr<MappedFile> file, const std::string& name) {
  const uint64_t size = file->size();
  if (size < 8)
    return Status::Errorf("{}: not a safetensors file ({} bytes, too short for the 8-byte header length)", name,
                          size);
  uint64_t header_len = 0;
  std::memcpy(&header_len, file->data(), 8);  // little-endian hosts only (x86-64, aarch64)
  if (header_len > SafetensorsLimits::kMaxHeaderBytes)
    return Status::Errorf("{}: header length {} is over the limit of {} bytes; is this a safetensors file?",
                          name, header_len, SafetensorsLimits::kMaxHeaderBytes);
  if (header_len > size - 8)
    return Status::Errorf("{}: header length {} runs past the end of the file ({} bytes); truncated download?",
                          name, header_len, size);
  const char* text = reinterpret_cast<const char*>(file->data() + 8);
  if (header_len < 2 || text[0] != '{')
    return Status::Errorf("{}: header at offset 8 is not a JSON object (expected '{{')", name);
  if (int depth = JsonNestingDepth(text, header_len, SafetensorsLimits::kMaxJsonDepth);
      depth > SafetensorsLimits::kMaxJsonDepth)
    return Status::Errorf("{}: header JSON nests deeper than {} levels", name, SafetensorsLimits::kMaxJsonDepth);
  // nlohmann keeps the last of duplicate keys silently; a tensor named twice is corrupt.
  std::set<std::string> names;
  std::string duplicate;
  json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string() &&
        !names.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header = json::parse(text, text + header_len, on_event, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return Status::Errorf("{}: header ({} bytes at offset 8) is not valid JSON", name, header_len);
  if (!duplicate.empty()) return Status::Errorf("{}: tensor '{}' is listed twice in the header", name, duplicate);

  SafetensorsFile st;
  st.path = name;
  st.data_offset = 8 + header_len;
  const uint64_t data_size = size - st.data_offset;
  std::vector<Raw> raws;
  raws.reserve(header.size());
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_object())
        for (auto m = it->begin(); m != it->end(); ++m)
          if (m->is_string()) st.metadata[m.key()] = m->get<std::string>();
      continue;
    }
    MOE_ASSIGN_OR_RETURN(Raw r, ParseEntry(name, it.key(), *it));
    if (r.begin > r.end || r.end > data_size)
      return Status::Errorf("{}: tensor '{}' has data_offsets [{}, {}] outside the data section ({} bytes at offset {})",
                            name, r.name, r.begin, r.end, data_size, st.data_offset);
    // Element count with overflow checks (each dim below 2^40, the product below 2^56).
    uint64_t n = 1;
    for (uint64_t d : r.shape) {
      if (d > (1ull << 40) || (d != 0 && n > (1ull << 56) / d))
        return Status::Errorf("{}: tensor '{}' has shape {} whose element count overflows", name, r.name,
                              ShapeString(r.shape));
      n *= d;
    }
    const uint64_t nbytes = n * r.dtype->size;
    if (nbytes != r.end - r.begin)
      return Status::Errorf("{}: tensor '{}' ({} {}) needs {} bytes but data_offsets [{}, {}] hold {}", name,
                            r.name, r.dtype->name, ShapeString(r.shape), nbytes, r.begin, r.end, r.end - r.begin);
    raws.push_back(std::move(r));
  }
  std::sort(raws.begin(), raws.end(), [](const Raw& a, const Raw& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Holes between tensors are tolerated; shared bytes are not (a corrupt or crafted header).
  const Raw* prev = nullptr;
  for (const Raw& r : raws) {
    if (r.begin == r.end) continue;
    if (prev && r.begin < prev->end)
      return Status::Errorf("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", name, prev->name, prev->begin,
                            prev->end, r.name, r.begin, r.end);
    prev = &r;
  }
  for (Raw& r : raws) {
    TensorEntry e;
    e.name = std::move(r.name);
    e.ggml_type = r.dtype->ggml_type;
    e.dtype = r.dtype->ggml_type == kNoGgmlType ? std::nullopt : DTypeFromGgml(r.dtype->ggml_type);
    if (r.dtype->name == "F8_E4M3") e.dtype = DType::kF8E4M3;  // computed with its block scales
    e.type_name = std::string(r.dtype->name);
    e.shape = std::move(r.shape);
    e.file_offset = st.data_offset + r.begin;
    e.data = file->data() + e.file_offset;
    e.nbytes = r.end - r.begin;
    e.file = name;
    st.tensors.Add(std::move(e));
  }
  st.tensors.KeepAlive(file);
  st.file = std::move(file);
  return st;
}

}  // namespace moe
