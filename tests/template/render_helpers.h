// Table-driven helpers for the interpreter's feature tests: render a template against a JSON
// context (the kit's fixed strftime_now instant) and compare with Jinja2's output.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"

namespace moe::template_test {

// The copy of the conformance kit's chat-template folder (tests/data/chat-templates/).
inline const std::string kKitDir = std::string(MOE_TEST_DATA) + "/chat-templates/";

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RenderCase {
  const char* source;
  const char* context;   // JSON object
  const char* expected;  // Jinja2 3.1 output, as the kit's reference environment renders it
};

inline ChatTemplateOptions FixedClock() {
  using namespace std::chrono;
  return {.now = sys_seconds(sys_days(year(2026) / January / 15))};
}

// Renders `source`, or returns "ERROR: <message>".
inline std::string RenderOrError(std::string_view source, std::string_view context_json) {
  auto tmpl = ChatTemplate::Parse(source);
  if (!tmpl.ok()) return "ERROR: " + tmpl.status().message();
  const auto ctx = nlohmann::ordered_json::parse(context_json);
  auto out = tmpl->Render(ctx, FixedClock());
  return out.ok() ? *out : "ERROR: " + out.status().message();
}

inline void ExpectRenders(const std::vector<RenderCase>& cases) {
  for (const RenderCase& c : cases) {
    EXPECT_EQ(RenderOrError(c.source, c.context), c.expected) << "template: " << c.source;
  }
}

// Each template must fail to parse or to render (and never produce output).
inline void ExpectFails(const std::vector<const char*>& sources) {
  for (const char* source : sources) {
    const std::string out = RenderOrError(source, "{}");
    EXPECT_TRUE(out.starts_with("ERROR: ")) << "template: " << source << "\nrendered: " << out;
  }
}

}  // namespace moe::template_test
