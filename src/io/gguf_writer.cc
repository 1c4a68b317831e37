#include "io/gguf_writer.h"

#include <cerrno>
#include <cstring>

#include <unistd.h>

#include "base/check.h"

namespace moe {

namespace {
template <typename T>
void Append(std::vector<uint8_t>& out, T v) {
  size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}
void AppendString(std::vector<uint8_t>& out, const std::string& s) {
  Append<uint64_t>(out, s.size());
  size_t at = out.size();
  out.resize(at + s.size());
  if (!s.empty()) std::memcpy(out.data() + at, s.data(), s.size());
}
}  // namespace

void GgufWriter::Put(const std::string& key, std::vector<uint8_t> encoded) {
  for (auto& kv : kvs_) {
    if (kv.key == key) {
      kv.encoded = std::move(encoded);
      return;
    }
  }
  kvs_.push_back({key, std::move(encoded)});
}

namespace {
// Type tag followed by the little-endian value.
template <typename T>
std::vector<uint8_t> EncodeScalar(GgufType type, T v) {
  std::vector<uint8_t> e;
  Append<uint32_t>(e, static_cast<uint32_t>(type));
  Append(e, v);
  return e;
}
}  // namespace

void GgufWriter::SetU32(const std::string& k, uint32_t v) { Put(k, EncodeScalar(GgufType::kU32, v)); }
void GgufWriter::SetI32(const std::string& k, int32_t v) { Put(k, EncodeScalar(GgufType::kI32, v)); }
void GgufWriter::SetF32(const std::string& k, float v) { Put(k, EncodeScalar(GgufType::kF32, v)); }
void GgufWriter::SetBool(const std::string& k, bool v) { Put(k, EncodeScalar<uint8_t>(GgufType::kBool, v ? 1 : 0)); }
void GgufWriter::SetString(const std::string& k, const std::string& v) {
  std::vector<uint8_t> e;
  Append<uint32_t>(e, static_cast<uint32_t>(GgufType::kString));
  AppendString(e, v);
  Put(k, std::move(e));
}
void GgufWriter::SetStringArray(const std::string& k, const std::vector<std::string>& v) {
  std::vector<uint8_t> e;
  Append<uint32_t>(e, static_cast<uint32_t>(GgufType::kArray));
  Append<uint32_t>(e, static_cast<uint32_t>(GgufType::kString));
  Append<uint64_t>(e, v.size());
  for (auto& s : v) AppendString(e, s);
  Put(k, std::move(e));
}
void GgufWriter::SetI32Array(const std::string& k, const std::vector<int32_t>& v) {
  std::vector<uint8_t> e;
  Append<uint32_t>(e, static_cast<uint32_t>(GgufType::kArray));
  Append<uint32_t>(e, static_cast<uint32_t>(GgufType::kI32));
  Append<uint64_t>(e, v.size());
  for (auto x : v) Append(e, x);
  Put(k, std::move(e));
}
void GgufWriter::SetF32Array(const std::string& k, const std::vector<float>& v) {
  std::vector<uint8_t> e;
  Append<uint32_t>(e, static_cast<uint32_t>(GgufType::kArray));
  Append<uint32_t>(e, static_cast<uint32_t>(GgufType::kF32));
  Append<uint64_t>(e, v.size());
  for (auto x : v) Append(e, x);
  Put(k, std::move(e));
}

void GgufWriter::AddTensor(const std::string& name, uint32_t type, const std::vector<uint64_t>& shape) {
  auto layout = GgmlTypeLayout(type);
  MOE_CHECK(layout.has_value() && !shape.empty());
  uint64_t n = 1;
  for (auto d : shape) n *= d;
  MOE_CHECK(shape.back() % layout->first == 0);
  Info info{name, type, shape, n / layout->first * layout->second, 0};
  uint64_t offset = 0;
  if (!tensors_.empty()) {
    const Info& prev = tensors_.back();
    offset = (prev.offset + prev.nbytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  info.offset = offset;
  tensors_.push_back(std::move(info));
}

Status GgufWriter::WriteBytes(const void* p, size_t n) {
  if (n && std::fwrite(p, 1, n, f_) != n)
    return Status::Errorf("{}: write failed: {}", path_, std::strerror(errno));
  return Status();
}

Status GgufWriter::Begin(const std::string& path) {
  path_ = path;
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) return Status::Errorf("{}: cannot create: {}", path, std::strerror(errno));
  std::vector<uint8_t> h;
  Append<uint32_t>(h, 0x46554747);
  Append<uint32_t>(h, 3);
  Append<uint64_t>(h, tensors_.size());
  Append<uint64_t>(h, kvs_.size());
  for (auto& kv : kvs_) {
    AppendString(h, kv.key);
    h.insert(h.end(), kv.encoded.begin(), kv.encoded.end());
  }
  for (auto& t : tensors_) {
    AppendString(h, t.name);
    Append<uint32_t>(h, static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) Append<uint64_t>(h, *it);
    Append<uint32_t>(h, t.type);
    Append<uint64_t>(h, t.offset);
  }
  h.resize((h.size() + kAlignment - 1) / kAlignment * kAlignment, 0);
  return WriteBytes(h.data(), h.size());
}

Status GgufWriter::WriteTensor(const void* data, uint64_t nbytes) {
  MOE_CHECK(f_ != nullptr && next_tensor_ < tensors_.size());
  const Info& t = tensors_[next_tensor_];
  MOE_CHECK(nbytes == t.nbytes);
  static const uint8_t kZeros[kAlignment] = {};
  MOE_RETURN_IF_ERROR(WriteBytes(kZeros, t.offset - written_data_));
  if (data == nullptr) {
    // A hole: the file stays sparse and reads back as zeros.
    if (std::fseek(f_, static_cast<long>(nbytes), SEEK_CUR) != 0)
      return Status::Errorf("{}: seek failed: {}", path_, std::strerror(errno));
  } else {
    MOE_RETURN_IF_ERROR(WriteBytes(data, nbytes));
  }
  written_data_ = t.offset + nbytes;
  ++next_tensor_;
  return Status();
}

Status GgufWriter::Finish() {
  MOE_CHECK(next_tensor_ == tensors_.size());
  // Extends the file over a trailing hole, if the last tensor was skipped.
  if (std::fflush(f_) != 0 || ::ftruncate(fileno(f_), static_cast<off_t>(std::ftell(f_))) != 0)
    return Status::Errorf("{}: write failed: {}", path_, std::strerror(errno));
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) return Status::Errorf("{}: close failed: {}", path_, std::strerror(errno));
  return Status();
}

GgufWriter::~GgufWriter() {
  if (f_) std::fclose(f_);
}

}  // namespace moe
