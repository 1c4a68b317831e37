#include "io/gguf.h"

#include <fmt/format.h>

#include <set>

#include "io/byte_reader.h"

namespace moe {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian

// Minimal encoded size of one value of type t, used to bound array counts by file size.
uint64_t MinEncodedSize(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    case GgufType::kString: return 8;
    case GgufType::kArray: return 12;
  }
  return 1;
}

bool ValidType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

Status ReadValue(ByteReader& r, GgufType type, int depth, GgufValue* out) {
  out->type = type;
  switch (type) {
#define MOE_GGUF_INT(tag, ctype, store)     \
  case GgufType::tag: {                     \
    ctype x{};                              \
    MOE_RETURN_IF_ERROR(r.Read(&x));        \
    out->v = static_cast<store>(x);         \
    return Status();                        \
  }
    MOE_GGUF_INT(kU8, uint8_t, uint64_t)
    MOE_GGUF_INT(kU16, uint16_t, uint64_t)
    MOE_GGUF_INT(kU32, uint32_t, uint64_t)
    MOE_GGUF_INT(kU64, uint64_t, uint64_t)
    MOE_GGUF_INT(kI8, int8_t, int64_t)
    MOE_GGUF_INT(kI16, int16_t, int64_t)
    MOE_GGUF_INT(kI32, int32_t, int64_t)
    MOE_GGUF_INT(kI64, int64_t, int64_t)
    MOE_GGUF_INT(kF32, float, double)
    MOE_GGUF_INT(kF64, double, double)
#undef MOE_GGUF_INT
    case GgufType::kBool: {
      uint8_t b = 0;
      uint64_t at = r.offset();
      MOE_RETURN_IF_ERROR(r.Read(&b));
      if (b > 1) return Status::Errorf("bool at offset {} has value {}, expected 0 or 1", at, b);
      out->v = b != 0;
      return Status();
    }
    case GgufType::kString: {
      std::string s;
      MOE_RETURN_IF_ERROR(r.ReadString(&s, GgufLimits::kMaxStringLength));
      out->v = std::move(s);
      return Status();
    }
    case GgufType::kArray: {
      if (depth >= GgufLimits::kMaxArrayDepth)
        return Status::Errorf("arrays nested deeper than {} at offset {}", GgufLimits::kMaxArrayDepth,
                              r.offset());
      uint32_t et = 0;
      uint64_t n = 0;
      uint64_t at = r.offset();
      MOE_RETURN_IF_ERROR(r.Read(&et));
      if (!ValidType(et)) return Status::Errorf("array at offset {} has unknown element type {}", at, et);
      MOE_RETURN_IF_ERROR(r.Read(&n));
      auto elem = static_cast<GgufType>(et);
      if (n > GgufLimits::kMaxArrayLength)
        return Status::Errorf("array at offset {} has {} elements, over the limit of {}", at, n,
                              GgufLimits::kMaxArrayLength);
      if (n > r.remaining() / MinEncodedSize(elem))
        return Status::Errorf("array at offset {} claims {} elements of {} but only {} bytes remain",
                              at, n, GgufTypeName(elem), r.remaining());
      auto arr = std::make_shared<GgufArray>();
      arr->elem_type = elem;
      arr->items.resize(n);
      for (uint64_t i = 0; i < n; ++i)
        MOE_RETURN_IF_ERROR(ReadValue(r, elem, depth + 1, &arr->items[i]));
      out->v = std::move(arr);
      return Status();
    }
  }
  return Status::Errorf("unknown value type {}", static_cast<uint32_t>(type));
}

}  // namespace

std::string_view GgufTypeName(GgufType t) {
  static constexpr std::string_view kNames[] = {"u8",  "i8",   "u16",    "i16",   "u32",
                                                "i32", "f32",  "bool",   "string", "array",
                                                "u64", "i64",  "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::optional<std::pair<uint64_t, uint64_t>> GgmlTypeLayout(uint32_t t) {
  switch (t) {
    case 0: return std::pair<uint64_t, uint64_t>{1, 4};      // F32
    case 1: return std::pair<uint64_t, uint64_t>{1, 2};      // F16
    case 2: return std::pair<uint64_t, uint64_t>{32, 18};    // Q4_0
    case 3: return std::pair<uint64_t, uint64_t>{32, 20};    // Q4_1
    case 6: return std::pair<uint64_t, uint64_t>{32, 22};    // Q5_0
    case 7: return std::pair<uint64_t, uint64_t>{32, 24};    // Q5_1
    case 8: return std::pair<uint64_t, uint64_t>{32, 34};    // Q8_0
    case 9: return std::pair<uint64_t, uint64_t>{32, 36};    // Q8_1
    case 10: return std::pair<uint64_t, uint64_t>{256, 84};  // Q2_K
    case 11: return std::pair<uint64_t, uint64_t>{256, 110}; // Q3_K
    case 12: return std::pair<uint64_t, uint64_t>{256, 144}; // Q4_K
    case 13: return std::pair<uint64_t, uint64_t>{256, 176}; // Q5_K
    case 14: return std::pair<uint64_t, uint64_t>{256, 210}; // Q6_K
    case 15: return std::pair<uint64_t, uint64_t>{256, 292}; // Q8_K
    case 16: return std::pair<uint64_t, uint64_t>{256, 66};  // IQ2_XXS
    case 17: return std::pair<uint64_t, uint64_t>{256, 74};  // IQ2_XS
    case 18: return std::pair<uint64_t, uint64_t>{256, 98};  // IQ3_XXS
    case 19: return std::pair<uint64_t, uint64_t>{256, 50};  // IQ1_S
    case 20: return std::pair<uint64_t, uint64_t>{32, 18};   // IQ4_NL
    case 21: return std::pair<uint64_t, uint64_t>{256, 110}; // IQ3_S
    case 22: return std::pair<uint64_t, uint64_t>{256, 82};  // IQ2_S
    case 23: return std::pair<uint64_t, uint64_t>{256, 136}; // IQ4_XS
    case 24: return std::pair<uint64_t, uint64_t>{1, 1};     // I8
    case 25: return std::pair<uint64_t, uint64_t>{1, 2};     // I16
    case 26: return std::pair<uint64_t, uint64_t>{1, 4};     // I32
    case 27: return std::pair<uint64_t, uint64_t>{1, 8};     // I64
    case 28: return std::pair<uint64_t, uint64_t>{1, 8};     // F64
    case 29: return std::pair<uint64_t, uint64_t>{256, 56};  // IQ1_M
    case 30: return std::pair<uint64_t, uint64_t>{1, 2};     // BF16
    case 34: return std::pair<uint64_t, uint64_t>{256, 54};  // TQ1_0
    case 35: return std::pair<uint64_t, uint64_t>{256, 66};  // TQ2_0
    case 39: return std::pair<uint64_t, uint64_t>{32, 17};   // MXFP4
    default: return std::nullopt;
  }
}

bool GgufValue::IsInteger() const {
  switch (type) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kU16: case GgufType::kI16:
    case GgufType::kU32: case GgufType::kI32: case GgufType::kU64: case GgufType::kI64:
      return true;
    default:
      return false;
  }
}

std::optional<int64_t> GgufValue::AsInt() const {
  if (auto* u = std::get_if<uint64_t>(&v)) {
    if (*u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
  return std::nullopt;
}

std::optional<double> GgufValue::AsDouble() const {
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto i = AsInt()) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<bool> GgufValue::AsBool() const {
  if (auto* b = std::get_if<bool>(&v)) return *b;
  if (auto i = AsInt()) return *i != 0;
  return std::nullopt;
}

std::string ShapeString(const std::vector<uint64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

Result<int64_t> GgufFile::GetInt(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (!v) return Status::Errorf("{}: missing metadata key '{}'", path_, key);
  auto i = v->AsInt();
  if (!i) return Status::Errorf("{}: metadata key '{}' has type {}, expected an integer", path_,
                                key, GgufTypeName(v->type));
  return *i;
}

std::optional<int64_t> GgufFile::GetIntOr(const std::string& key) const {
  const GgufValue* v = Find(key);
  return v ? v->AsInt() : std::nullopt;
}

Result<double> GgufFile::GetDouble(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (!v) return Status::Errorf("{}: missing metadata key '{}'", path_, key);
  auto d = v->AsDouble();
  if (!d) return Status::Errorf("{}: metadata key '{}' has type {}, expected a number", path_,
                                key, GgufTypeName(v->type));
  return *d;
}

Result<std::string> GgufFile::GetString(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (!v) return Status::Errorf("{}: missing metadata key '{}'", path_, key);
  auto* s = v->AsString();
  if (!s) return Status::Errorf("{}: metadata key '{}' has type {}, expected a string", path_,
                                key, GgufTypeName(v->type));
  return *s;
}

Result<GgufFile> GgufFile::Open(const std::string& path, const LoadOptions& opts) {
  if (opts.mmap) {
    MOE_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path, opts));
    return Parse(std::move(file), path);
  }
  // Read into memory: the header, parsed through a mapping first, says where the data section
  // starts, and the read puts it on a cache line (the tiled weight kernels load whole
  // 64-byte vectors; the GGUF default alignment is 32).
  uint64_t data_offset = 0;
  {
    MOE_ASSIGN_OR_RETURN(auto mapped, MappedFile::Open(path, LoadOptions{.mmap = true}));
    MOE_ASSIGN_OR_RETURN(GgufFile header, Parse(std::move(mapped), path));
    data_offset = header.data_offset();
  }
  MOE_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path, opts, data_offset));
  return Parse(std::move(file), path);
}

Result<GgufFile> GgufFile::Parse(std::shared_ptr<MappedFile> file, const std::string& name) {
  GgufFile g;
  g.path_ = name;
  ByteReader r(file->data(), file->size());
  auto err = [&](const Status& s) { return s.WithContext(name); };

  uint32_t magic = 0;
  if (file->size() < 24 || !r.Read(&magic).ok() || magic != kGgufMagic) {
    return Status::Errorf("{}: not a GGUF file (expected magic 'GGUF' at offset 0, file has {} bytes)",
                          name, file->size());
  }
  MOE_RETURN_IF_ERROR(err(r.Read(&g.version_)));
  if (g.version_ != 2 && g.version_ != 3)
    return Status::Errorf("{}: GGUF version {} is not supported (expected 2 or 3)", name, g.version_);
  uint64_t n_tensors = 0, n_kv = 0;
  MOE_RETURN_IF_ERROR(err(r.Read(&n_tensors)));
  MOE_RETURN_IF_ERROR(err(r.Read(&n_kv)));
  // Each KV needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least
  // 8 + 4 + 8 + 4 + 8. Counts beyond what the file could hold are corrupt.
  if (n_kv > r.remaining() / 13)
    return Status::Errorf("{}: header claims {} metadata entries, more than a {}-byte file can hold",
                          name, n_kv, file->size());
  if (n_tensors > r.remaining() / 32)
    return Status::Errorf("{}: header claims {} tensors, more than a {}-byte file can hold", name,
                          n_tensors, file->size());

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    uint64_t at = r.offset();
    MOE_RETURN_IF_ERROR(err(r.ReadString(&key, 1 << 16)));
    uint32_t type = 0;
    MOE_RETURN_IF_ERROR(err(r.Read(&type)));
    if (!ValidType(type))
      return Status::Errorf("{}: metadata key '{}' (offset {}) has unknown value type {}", name, key,
                            at, type);
    GgufValue v;
    MOE_RETURN_IF_ERROR(
        ReadValue(r, static_cast<GgufType>(type), 0, &v).WithContext(fmt::format("{}: key '{}'", name, key)));
    if (g.kv_.count(key)) return Status::Errorf("{}: duplicate metadata key '{}' at offset {}", name, key, at);
    g.kv_.emplace(std::move(key), std::move(v));
  }
  if (auto* a = g.Find("general.alignment")) {
    auto al = a->AsInt();
    if (!al || *al <= 0 || (*al & (*al - 1)) != 0 || *al > (1 << 20))
      return Status::Errorf("{}: general.alignment must be a power of two up to 1 MiB", name);
    g.alignment_ = static_cast<uint64_t>(*al);
  }

  struct RawInfo {
    std::string name;
    std::vector<uint64_t> dims;  // GGUF order
    uint32_t type;
    uint64_t offset;
    uint64_t info_offset;
  };
  std::vector<RawInfo> infos;
  infos.reserve(n_tensors);
  std::set<std::string> seen;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    RawInfo t;
    t.info_offset = r.offset();
    MOE_RETURN_IF_ERROR(err(r.ReadString(&t.name, 1 << 16)));
    uint32_t n_dims = 0;
    MOE_RETURN_IF_ERROR(err(r.Read(&n_dims)));
    if (n_dims == 0 || n_dims > GgufLimits::kMaxDims)
      return Status::Errorf("{}: tensor '{}' (offset {}) has {} dimensions, expected 1 to {}", name,
                            t.name, t.info_offset, n_dims, GgufLimits::kMaxDims);
    t.dims.resize(n_dims);
    for (auto& d : t.dims) MOE_RETURN_IF_ERROR(err(r.Read(&d)));
    MOE_RETURN_IF_ERROR(err(r.Read(&t.type)));
    MOE_RETURN_IF_ERROR(err(r.Read(&t.offset)));
    if (!seen.insert(t.name).second)
      return Status::Errorf("{}: duplicate tensor name '{}' at offset {}", name, t.name, t.info_offset);
    infos.push_back(std::move(t));
  }

  uint64_t pos = r.offset();
  g.data_offset_ = (pos + g.alignment_ - 1) / g.alignment_ * g.alignment_;
  if (n_tensors > 0 && g.data_offset_ > file->size())
    return Status::Errorf("{}: data section would start at offset {}, past the end of the file ({} bytes)",
                          name, g.data_offset_, file->size());
  uint64_t data_size = file->size() > g.data_offset_ ? file->size() - g.data_offset_ : 0;

  for (auto& t : infos) {
    auto layout = GgmlTypeLayout(t.type);
    if (!layout)
      return Status::Errorf("{}: tensor '{}' has unknown type id {}", name, t.name, t.type);
    auto [block, block_bytes] = *layout;
    // Element count with overflow checks; every dim must be positive.
    uint64_t n = 1;
    for (auto d : t.dims) {
      if (d == 0 || d > (1ull << 40) || n > (1ull << 50) / d)
        return Status::Errorf("{}: tensor '{}' has dimensions {} whose product overflows or is zero",
                              name, t.name, ShapeString(t.dims));
      n *= d;
    }
    if (t.dims[0] % block != 0)
      return Status::Errorf("{}: tensor '{}' of type {} has row length {}, not a multiple of its block size {}",
                            name, t.name, GgmlTypeName(t.type), t.dims[0], block);
    uint64_t nbytes = n / block * block_bytes;
    if (t.offset % g.alignment_ != 0)
      return Status::Errorf("{}: tensor '{}' data offset {} is not aligned to {}", name, t.name,
                            t.offset, g.alignment_);
    if (t.offset > data_size || nbytes > data_size - t.offset)
      return Status::Errorf("{}: tensor '{}' data [{}, {}) lies beyond the end of the file (data section has {} bytes)",
                            name, t.name, g.data_offset_ + t.offset, g.data_offset_ + t.offset + nbytes,
                            data_size);
    TensorEntry e;
    e.name = t.name;
    e.ggml_type = t.type;
    e.dtype = DTypeFromGgml(t.type);
    e.shape.assign(t.dims.rbegin(), t.dims.rend());
    e.data = file->data() + g.data_offset_ + t.offset;
    e.nbytes = nbytes;
    e.file_offset = g.data_offset_ + t.offset;
    e.file = name;
    g.catalog_.Add(std::move(e));
  }
  g.catalog_.KeepAlive(std::move(file));
  return g;
}

}  // namespace moe
