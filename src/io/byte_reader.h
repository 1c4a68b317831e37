// A bounds-checked little-endian cursor over untrusted bytes. Every read checks the remaining
// length first; failures carry the offset so errors can say where a file is broken.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/status.h"

namespace moe {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  uint64_t size() const { return size_; }

  template <typename T>
  Status Read(T* out) {
    if (remaining() < sizeof(T))
      return Status::Errorf("unexpected end of file at offset {} reading {} bytes (file has {})",
                            pos_, sizeof(T), size_);
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status();
  }

  // A u64 length followed by that many bytes; the length is checked against `max_len` and
  // against what is left of the file before anything is allocated.
  Status ReadString(std::string* out, uint64_t max_len) {
    uint64_t at = pos_;
    uint64_t n = 0;
    MOE_RETURN_IF_ERROR(Read(&n));
    if (n > max_len)
      return Status::Errorf("string at offset {} has length {}, over the limit of {}", at, n,
                            max_len);
    if (n > remaining())
      return Status::Errorf("string at offset {} has length {} but only {} bytes remain", at, n,
                            remaining());
    out->assign(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return Status();
  }

  Status Skip(uint64_t n) {
    if (n > remaining()) return Status::Errorf("unexpected end of file at offset {}", pos_);
    pos_ += n;
    return Status();
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace moe
