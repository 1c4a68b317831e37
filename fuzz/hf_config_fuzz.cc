// libFuzzer target: arbitrary bytes as config.json, mapped onto ModelConfig and validated.
#include <nlohmann/json.hpp>

#include "model/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  auto c = moe::ParseHfConfig(j, "config.json");
  if (c.ok()) (void)c->Validate();
  return 0;
}
