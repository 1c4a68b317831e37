// libFuzzer target: arbitrary bytes as a .safetensors file (header length, JSON header,
// offsets); every accepted tensor must lie inside the buffer.
#include <vector>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = moe::MappedFile::FromBytes(std::vector<uint8_t>(data, data + size), "fuzz.safetensors");
  auto st = moe::ParseSafetensors(file, "fuzz.safetensors");
  if (!st.ok()) return 0;
  for (const auto& e : st->tensors.entries()) {
    if (e.nbytes == 0) continue;
    // Touch the first and last byte: ASan reports any range outside the file.
    volatile uint8_t a = e.data[0], b = e.data[e.nbytes - 1];
    (void)a;
    (void)b;
  }
  return 0;
}
