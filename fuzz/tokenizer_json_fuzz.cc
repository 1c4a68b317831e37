// libFuzzer target: arbitrary bytes as tokenizer.json; a tokenizer that loads must encode.
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  auto t = moe::Tokenizer::FromHfJson(j, nullptr);
  if (t.ok()) (void)(*t)->Encode("Hello, world 123 <|im_start|>", true, true);
  return 0;
}
