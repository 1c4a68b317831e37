#include "engine/chat_prompt.h"

namespace moe {

Result<ChatPrompt> BuildChatPrompt(const ChatTemplate& tmpl, const Tokenizer& tok,
                                   const nlohmann::ordered_json& messages, const nlohmann::ordered_json& kwargs) {
  auto piece = [&](int32_t id) { return id >= 0 ? std::string(tok.TokenBytes(id)) : std::string(); };
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  for (auto& [k, v] : kwargs.items()) context[k] = v;
  context["messages"] = messages;
  context["add_generation_prompt"] = true;
  context["bos_token"] = piece(tok.bos_id());
  context["eos_token"] = piece(tok.eos_id());
  MOE_ASSIGN_OR_RETURN(std::string text, tmpl.Render(context));
  const std::string bos = piece(tok.bos_id());
  const bool has_bos = !bos.empty() && text.rfind(bos, 0) == 0;
  ChatPrompt p;
  p.tokens = tok.Encode(text, /*add_special=*/!has_bos, /*parse_special=*/true);
  p.text = std::move(text);
  return p;
}

}  // namespace moe
