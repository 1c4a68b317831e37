// libFuzzer target: arbitrary bytes as a chat template, rendered with a small conversation.
// The interpreter's limits (jinja/limits.h) must stop runaway loops and output.
#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json context = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                 {"role": "assistant", "content": "Hello", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "tools": []})");
  std::string_view source(reinterpret_cast<const char*>(data), size);
  auto t = moe::ChatTemplate::Parse(source);
  if (t.ok()) (void)t->Render(context);
  return 0;
}
