// Writes GGUF version 3 files that llama.cpp-family readers accept: metadata, tensor infos,
// aligned data. Tensors are streamed one at a time, so a multi-GB model never sits in memory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/gguf.h"

namespace moe {

class GgufWriter {
 public:
  static constexpr uint64_t kAlignment = 32;

  void SetU32(const std::string& key, uint32_t v);
  void SetI32(const std::string& key, int32_t v);
  void SetF32(const std::string& key, float v);
  void SetBool(const std::string& key, bool v);
  void SetString(const std::string& key, const std::string& v);
  void SetStringArray(const std::string& key, const std::vector<std::string>& v);
  void SetI32Array(const std::string& key, const std::vector<int32_t>& v);
  void SetF32Array(const std::string& key, const std::vector<float>& v);

  // Declares a tensor; shape in PyTorch order (flipped to GGUF order on write).
  void AddTensor(const std::string& name, uint32_t ggml_type, const std::vector<uint64_t>& shape);

  // Opens `path`, writes header and tensor infos. Then call WriteTensor once per declared
  // tensor, in declaration order, with exactly its byte size (data == nullptr leaves a
  // sparse hole of zeros); then Finish.
  Status Begin(const std::string& path);
  Status WriteTensor(const void* data, uint64_t nbytes);
  Status Finish();
  ~GgufWriter();

  uint64_t TensorBytes(size_t i) const { return tensors_[i].nbytes; }
  size_t num_tensors() const { return tensors_.size(); }

 private:
  struct Kv {
    std::string key;
    std::vector<uint8_t> encoded;  // type + value, already serialized
  };
  struct Info {
    std::string name;
    uint32_t type;
    std::vector<uint64_t> shape;
    uint64_t nbytes;
    uint64_t offset;
  };
  void Put(const std::string& key, std::vector<uint8_t> encoded);
  Status WriteBytes(const void* p, size_t n);

  std::vector<Kv> kvs_;
  std::vector<Info> tensors_;
  FILE* f_ = nullptr;
  std::string path_;
  size_t next_tensor_ = 0;
  uint64_t written_data_ = 0;
};

}  // namespace moe
