// libFuzzer target: arbitrary bytes encoded (special tokens on and off) with a real
// byte-level vocabulary, then decoded whole and streamed. Never crashes; decode of the
// streamed pieces is valid UTF-8 by construction of StreamDecoder.
#include <memory>
#include <string_view>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {
const moe::Tokenizer* Vocab() {
  static std::unique_ptr<moe::Tokenizer> tok = [] {
    auto g = moe::GgufFile::Open(std::string(MOE_TEST_DATA) + "/tokenizer/ggml-vocab-deepseek-llm.gguf");
    if (!g.ok()) std::abort();
    auto t = moe::Tokenizer::FromGguf(*g);
    if (!t.ok()) std::abort();
    return std::move(*t);
  }();
  return tok.get();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const moe::Tokenizer* tok = Vocab();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool special : {false, true}) {
    auto ids = tok->Encode(text, special, special);
    (void)tok->Decode(ids);
    moe::StreamDecoder stream(*tok);
    for (int32_t id : ids) (void)stream.Push(id);
    (void)stream.Flush();
  }
  // The bytes as token ids too (out-of-range ids must be skipped, not read).
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 4 <= size; i += 4) raw.push_back(*reinterpret_cast<const int32_t*>(data + i));
  (void)tok->Decode(raw);
  return 0;
}
