// A conversation as the model's prompt: the chat template rendered with the variables
// Hugging Face's apply_chat_template passes (messages, add_generation_prompt, bos_token,
// eos_token, plus caller keywords such as enable_thinking), then tokenized with special
// tokens recognized and BOS added only when the template did not write it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace moe {

struct ChatPrompt {
  std::string text;             // the rendered template
  std::vector<int32_t> tokens;
};

// `kwargs` (an object) become template variables too; the standard ones above win.
Result<ChatPrompt> BuildChatPrompt(const ChatTemplate& tmpl, const Tokenizer& tok,
                                   const nlohmann::ordered_json& messages,
                                   const nlohmann::ordered_json& kwargs = nlohmann::ordered_json::object());

}  // namespace moe
