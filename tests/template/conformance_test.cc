// Runs every case of the chat-template conformance kit (tests/data/chat-templates/cases.jsonl)
// through ChatTemplate: outputs must match byte for byte, raise_exception cases must fail
// with the exact message, runtime_error cases must fail or (when the case carries
// alt_expected) produce exactly the alternative output.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
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

struct Case {
  std::string id;
  ordered_json spec;
};

std::vector<Case> LoadCases() {
  std::vector<Case> cases;
  std::ifstream in(kKitDir + "cases.jsonl", std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ordered_json spec = ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (spec.is_discarded()) continue;
    cases.push_back({spec.value("id", std::string()), std::move(spec)});
  }
  return cases;
}

// The kit's render context: messages, tools (or none), documents (none), the options and
// every key of options.extra.
ordered_json BuildContext(const ordered_json& spec) {
  const ordered_json conversation =
      ordered_json::parse(ReadFile(kKitDir + spec["conversation"].get<std::string>()));
  const ordered_json& options = spec["options"];
  ordered_json ctx = ordered_json::object();
  ctx["messages"] = conversation["messages"];
  ctx["tools"] = conversation.contains("tools") ? conversation["tools"] : ordered_json(nullptr);
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = options["add_generation_prompt"];
  ctx["bos_token"] = options["bos_token"];
  ctx["eos_token"] = options["eos_token"];
  if (options.contains("extra")) {
    for (const auto& [key, value] : options["extra"].items()) ctx[key] = value;
  }
  return ctx;
}

ChatTemplateOptions KitOptions() {
  using namespace std::chrono;
  return {.now = sys_seconds(sys_days(year(2026) / January / 15))};
}

class ConformanceTest : public testing::TestWithParam<Case> {};

TEST_P(ConformanceTest, RendersLikeJinja2) {
  const ordered_json& spec = GetParam().spec;
  const std::string source = ReadFile(kKitDir + spec["template"].get<std::string>());
  TemplateError error;
  auto tmpl = ChatTemplate::Parse(source, &error);
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().message();
  auto out = tmpl->Render(BuildContext(spec), KitOptions(), &error);

  if (spec.contains("expected")) {
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ(*out, ReadFile(kKitDir + spec["expected"].get<std::string>()));
    return;
  }
  const ordered_json& expected_error = spec["expected_error"];
  if (expected_error["kind"] == "raise_exception") {
    ASSERT_FALSE(out.ok()) << "rendered instead of raising:\n" << *out;
    EXPECT_EQ(error.kind, TemplateError::Kind::kRaised);
    EXPECT_EQ(out.status().message(), expected_error["message"].get<std::string>());
    return;
  }
  if (out.ok()) {  // only acceptable as the documented alternative output
    ASSERT_TRUE(spec.contains("alt_expected"))
        << "expected " << expected_error["exception"].get<std::string>() << ", rendered:\n"
        << *out;
    EXPECT_EQ(*out, ReadFile(kKitDir + spec["alt_expected"].get<std::string>()))
        << "alt_reason: " << spec.value("alt_reason", std::string());
  }
}

std::string CaseName(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.id;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Kit, ConformanceTest, testing::ValuesIn(LoadCases()), CaseName);

TEST(ConformanceKit, HasAllCases) { EXPECT_EQ(LoadCases().size(), 910u); }

}  // namespace
}  // namespace moe
