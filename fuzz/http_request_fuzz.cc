// libFuzzer target: arbitrary bytes as a /v1/chat/completions and a /v1/completions body.
// Errors must be 400/413 with a serializable body; accepted requests have their text run
// through StopFilter then ReasoningSplitter, cut into pieces, and the outputs are checked
// against std::string::find and for whole UTF-8 characters.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/api/filters.h"
#include "server/api/request.h"

namespace {

bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

// Feeds `text` in pieces of 0..6 bytes, the lengths drawn from the text itself.
void RunFilters(const std::string& text, const std::vector<std::string>& stops) {
  moe::StopFilter stop(stops);
  moe::ReasoningSplitter split(moe::PromptOpensThinkBlock(text.substr(0, 16)));
  const bool valid = ValidUtf8(text);
  std::string out, reasoning, content;
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++n) {
    size_t len = (static_cast<unsigned char>(text[i]) + n) % 7;  // n varies, so 0 cannot repeat forever
    std::string piece = stop.Push(std::string_view(text).substr(i, len));
    i += len;
    if (valid) Check(ValidUtf8(piece));
    out += piece;
    auto d = split.Push(piece);
    if (valid) Check(ValidUtf8(d.reasoning) && ValidUtf8(d.content));
    reasoning += d.reasoning;
    content += d.content;
  }
  std::string tail = stop.Flush();
  out += tail;
  auto d = split.Push(tail);
  reasoning += d.reasoning;
  content += d.content;
  d = split.Flush();
  reasoning += d.reasoning;
  content += d.content;

  size_t first = std::string::npos;
  for (const auto& s : stops)
    if (!s.empty()) first = std::min(first, text.find(s));
  Check(out == text.substr(0, first));
  Check(stop.stopped() == (first != std::string::npos));
  Check(reasoning.size() + content.size() <= out.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (bool chat : {true, false}) {
    auto parsed = chat ? moe::ParseChatRequest(body) : moe::ParseCompletionRequest(body);
    if (auto* e = std::get_if<moe::ApiError>(&parsed)) {
      Check(e->http_status == 400 || e->http_status == 413);
      Check(!moe::ErrorBody(*e).empty());
      continue;
    }
    const auto& req = std::get<moe::GenerationRequest>(parsed);
    std::string text = req.prompt;
    for (const auto& m : req.messages) text += m["content"].get<std::string>();
    RunFilters(text, req.stop);
  }
  return 0;
}
