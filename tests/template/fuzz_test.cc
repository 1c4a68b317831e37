// Mutation fuzzing of the real chat templates of the conformance kit: truncated, spliced and
// token-injected variants must parse to an error or render to a string or an error, never
// crash or hang (run under the asan preset to check memory safety too).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "render_helpers.h"
#include "tokenizer/chat_template.h"

namespace moe {
namespace {

using nlohmann::ordered_json;

using template_test::kKitDir;
using template_test::ReadFile;

std::vector<std::string> KitTemplates() {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(kKitDir + "templates")) {
    out.push_back(ReadFile(entry.path().string()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

ordered_json Context() {
  const ordered_json conv = ordered_json::parse(ReadFile(kKitDir + "conversations/p09_parallel_tool_calls.json"));
  ordered_json ctx;
  ctx["messages"] = conv["messages"];
  ctx["tools"] = conv["tools"];
  ctx["add_generation_prompt"] = true;
  ctx["bos_token"] = "<s>";
  ctx["eos_token"] = "</s>";
  return ctx;
}

// Fragments that stress the lexer and parser when spliced in at random places.
const char* const kFragments[] = {
    "{%", "%}", "{{", "}}", "{#", "#}", "{%-", "-%}", "(", ")", "[", "]", "{", "}", "'", "\"",
    "|", "~", ".", ",", ":", "-", "+", "*", "**", "//", "%", " is ", " not ", " in ", " if ",
    " else ", "endif", "endfor", "endmacro", "{% endif %}", "{% endfor %}", "{% else %}",
    "{% for x in messages %}", "{% if x %}", "{{ x }}", "{% set ns.x = 1 %}", "loop.", "\\",
    "\n", "\xC3", "\xFF", "{% macro m(a) %}{{ m(a) }}{% endmacro %}{{ m(1) }}", "{% raw %}",
    "caller()", "|tojson", "|items", "[::-1]", "range(9999)", "namespace(", "0x", "1e999",
};

std::string Mutate(const std::string& src, std::mt19937& rng) {
  std::string s = src;
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const size_t pos = rng() % (s.size() + 1);
    switch (rng() % 5) {
      case 0:  // truncate
        s.resize(pos);
        break;
      case 1:  // delete a span
        s.erase(std::min(pos, s.size()), rng() % 16);
        break;
      case 2:  // inject a fragment
        s.insert(std::min(pos, s.size()),
                 kFragments[rng() % (sizeof(kFragments) / sizeof(kFragments[0]))]);
        break;
      case 3: {  // duplicate a span somewhere else
        const size_t from = rng() % s.size();
        const std::string span = s.substr(from, rng() % 64);
        s.insert(std::min(pos, s.size()), span);
        break;
      }
      default:  // flip a byte
        if (pos < s.size()) s[pos] = static_cast<char>(s[pos] ^ (1u << (rng() % 8)));
        break;
    }
  }
  return s;
}

TEST(TemplateFuzz, MutatedKitTemplatesNeverCrash) {
  const std::vector<std::string> templates = KitTemplates();
  ASSERT_EQ(templates.size(), 17u);
  const ordered_json ctx = Context();
  const char* seed = std::getenv("MOE_FUZZ_SEED");
  std::mt19937 rng(seed != nullptr ? static_cast<unsigned>(std::atoi(seed)) : 20260115u);
  int parsed = 0, rendered = 0, total = 0;
  // MOE_FUZZ_ROUNDS=N runs a longer campaign by hand (the default keeps ctest fast).
  const char* env = std::getenv("MOE_FUZZ_ROUNDS");
  const int rounds = env != nullptr ? std::atoi(env) : 120;
  for (int round = 0; round < rounds; ++round) {
    for (const std::string& original : templates) {
      const std::string src = Mutate(original, rng);
      ++total;
      TemplateError error;
      auto tmpl = ChatTemplate::Parse(src, &error);
      if (!tmpl.ok()) {
        EXPECT_FALSE(tmpl.status().message().empty());
        EXPECT_EQ(error.kind, TemplateError::Kind::kSyntax);
        continue;
      }
      ++parsed;
      auto out = tmpl->Render(ctx, {}, &error);
      if (out.ok()) ++rendered;
      else EXPECT_FALSE(out.status().message().empty());
    }
  }
  // Most mutations keep a template parseable; some of those still render.
  EXPECT_GT(parsed, total / 10);
  EXPECT_GT(rendered, 0);
}

TEST(TemplateFuzz, EveryPrefixOfEveryTemplate) {
  const ordered_json ctx = Context();
  for (const std::string& original : KitTemplates()) {
    for (size_t n = 0; n <= original.size(); n += 7) {
      auto tmpl = ChatTemplate::Parse(std::string_view(original).substr(0, n));
      if (tmpl.ok()) (void)tmpl->Render(ctx);
    }
  }
}

TEST(TemplateFuzz, RandomBytesAndTokenSoup) {
  std::mt19937 rng(7);
  const ordered_json ctx = Context();
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int parts = 1 + static_cast<int>(rng() % 24);
    for (int p = 0; p < parts; ++p) {
      if (rng() % 3 == 0) {
        s.push_back(static_cast<char>(rng() % 256));
      } else {
        s += kFragments[rng() % (sizeof(kFragments) / sizeof(kFragments[0]))];
      }
    }
    auto tmpl = ChatTemplate::Parse(s);
    if (tmpl.ok()) (void)tmpl->Render(ctx);
  }
}

}  // namespace
}  // namespace moe
