// Safetensors writing (format: github.com/huggingface/safetensors, "Format" section).
#include "io/safetensors_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/check.h"
#include "io/safetensors.h"
#include "io/tensor_catalog.h"

namespace moe {

Status SafetensorsWriter::AddTensor(const std::string& name, const std::string& dtype,
                                    const std::vector<uint64_t>& shape) {
  const uint64_t elem = SafetensorsDTypeSize(dtype);
  if (elem == 0) return Status::Errorf("safetensors: tensor '{}' has unknown dtype '{}'", name, dtype);
  if (name.empty() || name == "__metadata__")
    return Status::Errorf("safetensors: '{}' cannot name a tensor", name);
  for (const Info& t : tensors_)
    if (t.name == name) return Status::Errorf("safetensors: tensor '{}' declared twice", name);
  // The reader's limits: each dimension below 2^40, the element count below 2^56.
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d > (1ull << 40) || (d != 0 && n > (1ull << 56) / d))
      return Status::Errorf("safetensors: tensor '{}' has shape {} whose element count overflows", name,
                            ShapeString(shape));
    n *= d;
  }
  const uint64_t begin = data_bytes();
  tensors_.push_back({name, dtype, shape, begin, begin + n * elem});
  return Status();
}

void SafetensorsWriter::SetMetadata(const std::string& key, const std::string& value) {
  for (auto& [k, v] : metadata_)
    if (k == key) {
      v = value;
      return;
    }
  metadata_.emplace_back(key, value);
}

Result<std::string> SafetensorsWriter::Header() const {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : metadata_) meta[k] = v;
  h["__metadata__"] = std::move(meta);
  for (const Info& t : tensors_) {
    if (t.begin % SafetensorsDTypeSize(t.dtype) != 0)
      return Status::Errorf("safetensors: tensor '{}' ({}) would start at data offset {}, not a multiple of its "
                            "{}-byte elements; declare tensors with wider elements first", t.name, t.dtype,
                            t.begin, SafetensorsDTypeSize(t.dtype));
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string json = h.dump();
  // Spaces after the JSON (the reference writer's padding) put the data section at a
  // multiple of 8 bytes from the start of the file.
  json.resize((8 + json.size() + 7) / 8 * 8 - 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);  // little-endian
  return out + json;
}

Status SafetensorsWriter::Begin(const std::string& path) {
  MOE_CHECK(f_ == nullptr);
  MOE_ASSIGN_OR_RETURN(std::string header, Header());
  path_ = path;
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) return Status::Errorf("{}: cannot create: {}", path, std::strerror(errno));
  written_ = 0;
  if (std::fwrite(header.data(), 1, header.size(), f_) != header.size())
    return Status::Errorf("{}: write failed: {}", path_, std::strerror(errno));
  return Status();
}

Status SafetensorsWriter::Write(const void* data, uint64_t n) {
  MOE_CHECK(f_ != nullptr && n <= data_bytes() - written_);
  if (data == nullptr) {
    if (n > 0 && std::fseek(f_, static_cast<long>(n), SEEK_CUR) != 0)
      return Status::Errorf("{}: seek failed: {}", path_, std::strerror(errno));
  } else if (n && std::fwrite(data, 1, n, f_) != n) {
    return Status::Errorf("{}: write failed: {}", path_, std::strerror(errno));
  }
  written_ += n;
  return Status();
}

Status SafetensorsWriter::Finish() {
  MOE_CHECK(f_ != nullptr && written_ == data_bytes());
  // ftruncate extends the file over a trailing hole, if the last bytes were skipped.
  if (std::fflush(f_) != 0 || ::ftruncate(fileno(f_), static_cast<off_t>(std::ftell(f_))) != 0)
    return Status::Errorf("{}: write failed: {}", path_, std::strerror(errno));
  const int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) return Status::Errorf("{}: close failed: {}", path_, std::strerror(errno));
  return Status();
}

SafetensorsWriter::~SafetensorsWriter() {
  if (f_) std::fclose(f_);
}

}  // namespace moe
