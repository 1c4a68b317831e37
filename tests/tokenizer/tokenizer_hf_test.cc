// Hugging Face tokenizer.json loading: the conformance models' hf/tokenizer.json must give the
// same vocabulary, special tokens and ids as their GGUF; the pre_tokenizer tree (Sequence,
// Split, ByteLevel, Digits) maps onto the same regexes; malformed files give errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace moe {
namespace {

using nlohmann::json;
using testing_util::LoadVocab;
using testing_util::TokDir;

json ReadJson(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f, nullptr, /*allow_exceptions=*/false);
}

TEST(TokenizerHf, ConformanceModelsMatchTheirGguf) {
  // The hf/ tokenizers use ByteLevel's GPT-2 regex where the GGUFs name llama-bpe, qwen2 and
  // deepseek-v3; these texts split the same way under all of them.
  const std::vector<std::string> texts = {"the",
                                          " the",
                                          "Hello world",
                                          "The other one, or the rest.",
                                          "hello there; how are you?",
                                          "She said: \"the end\".",
                                          "a b c d e f",
                                          "Theory of the world's order",
                                          "  spaced  out ",
                                          "Ça va? Привет мир",
                                          "🦙 and 🚀"};
  for (const char* c : {"llama-f32", "qwen3moe-f32", "deepseek2-f32"}) {
    SCOPED_TRACE(c);
    auto gguf = LoadVocab(std::string("models/") + c + ".vocab.gguf");
    ASSERT_TRUE(gguf);
    const json tj = ReadJson(TokDir() + "/models/" + c + "/tokenizer.json");
    const json cfg = ReadJson(TokDir() + "/models/" + c + "/tokenizer_config.json");
    ASSERT_FALSE(tj.is_discarded());
    auto hf = Tokenizer::FromHfJson(tj, &cfg);
    ASSERT_TRUE(hf.ok()) << hf.status().message();
    const Tokenizer& h = **hf;
    EXPECT_EQ(h.vocab_size(), gguf->vocab_size());
    EXPECT_EQ(h.bos_id(), gguf->bos_id());
    EXPECT_EQ(h.eos_id(), gguf->eos_id());
    EXPECT_EQ(h.add_bos(), gguf->add_bos());
    EXPECT_EQ(h.add_eos(), gguf->add_eos());
    for (int32_t id = 0; id < static_cast<int32_t>(h.vocab_size()); ++id) {
      // Reserved ids are "unused" in the GGUF and plain added tokens in tokenizer.json.
      if (gguf->token_type(id) == TokenType::kUnused) continue;
      ASSERT_EQ(h.TokenPiece(id), gguf->TokenPiece(id)) << id;
      ASSERT_EQ(h.IsEog(id), gguf->IsEog(id)) << id;
    }
    for (const std::string& t : texts) {
      EXPECT_EQ(h.Encode(t, true, false), gguf->Encode(t, true, false)) << "'" << t << "'";
      EXPECT_EQ(h.Decode(h.Encode(t, false, false)), t);
    }
    const std::string chat = "<|im_start|>x<｜end▁of▁sentence｜><|eot_id|>";
    EXPECT_EQ(h.Encode(chat, false, true), gguf->Encode(chat, false, true));
  }
}

// A byte-level vocabulary in tokenizer.json form: the 256 byte pieces plus a few merges.
json TinyJson(json pre_tokenizer) {
  json vocab = json::object();
  const auto& bytes = unicode::ByteToUtf8();
  for (int b = 0; b < 256; ++b) vocab[bytes[b]] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  vocab["12"] = 260;
  json tj;
  tj["model"] = {
      {"type", "BPE"},
      {"vocab", vocab},
      {"merges", json::array({"h e", json::array({"l", "l"}), "he ll", "hell o", "1 2"})}};
  tj["added_tokens"] =
      json::array({{{"id", 261}, {"content", "<s>"}, {"special", true}},
                   {{"id", 262}, {"content", "<tool>"}, {"special", false}, {"rstrip", true}}});
  tj["pre_tokenizer"] = std::move(pre_tokenizer);
  tj["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
  return tj;
}

TEST(TokenizerHf, PreTokenizerTree) {
  const json seq = {
      {"type", "Sequence"},
      {"pretokenizers", json::array({{{"type", "Digits"}, {"individual_digits", false}},
                                     {{"type", "Split"},
                                      {"pattern", {{"Regex", "\\s?\\p{L}+"}}},
                                      {"behavior", "Isolated"},
                                      {"invert", false}},
                                     {{"type", "ByteLevel"}, {"use_regex", false}}})}};
  auto t = Tokenizer::FromHfJson(TinyJson(seq), nullptr);
  ASSERT_TRUE(t.ok()) << t.status().message();
  const Tokenizer& tok = **t;
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.bos_id(), 261);
  // "hello" merges fully; "12" is one digit run and merges; "123" -> "12" + "3".
  EXPECT_EQ(tok.Encode("hello12", true, false), std::vector<int32_t>({261, 259, 260}));
  EXPECT_EQ(tok.Encode("123", false, false), std::vector<int32_t>({260, '3'}));
  // Added non-special token: always matched, rstrip eats the following spaces.
  EXPECT_EQ(tok.Encode("<tool>  hello", false, false), std::vector<int32_t>({262, 259}));
  EXPECT_EQ(tok.Encode("<s>", false, true), std::vector<int32_t>({261}));
  EXPECT_NE(tok.Encode("<s>", false, false), std::vector<int32_t>({261}));
}

TEST(TokenizerHf, Errors) {
  auto err = [](const json& tj) {
    auto t = Tokenizer::FromHfJson(tj, nullptr);
    EXPECT_FALSE(t.ok());
    return t.ok() ? std::string() : t.status().message();
  };
  const json byte_level = {{"type", "ByteLevel"}, {"use_regex", true}};
  EXPECT_NE(err(json::array()).find("not a JSON object"), std::string::npos);
  EXPECT_NE(err(json::object()).find("model"), std::string::npos);

  json t = TinyJson({{"type", "Metaspace"}});
  EXPECT_NE(err(t).find("Metaspace"), std::string::npos);

  t = TinyJson(byte_level);
  t["model"]["merges"].push_back("q zz");
  EXPECT_NE(err(t).find("model.merges[5]"), std::string::npos);

  t = TinyJson(byte_level);
  t["model"]["vocab"]["x"] = "seven";
  EXPECT_NE(err(t).find("model.vocab['x']"), std::string::npos);

  t = TinyJson(byte_level);
  t["model"]["type"] = "Unigram";
  EXPECT_NE(err(t).find("Unigram"), std::string::npos);

  // Wrong JSON types deep inside become errors, not exceptions.
  t = TinyJson({{"type", "ByteLevel"}, {"use_regex", "yes"}});
  EXPECT_NE(err(t).find("tokenizer.json"), std::string::npos);

  t = TinyJson({{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}});
  EXPECT_NE(err(t).find("does not compile"), std::string::npos);

  const json bad_cfg = {{"add_bos_token", "true"}};
  auto c = Tokenizer::FromHfJson(TinyJson(byte_level), &bad_cfg);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("add_bos_token"), std::string::npos);
}

// The tokenizer.ggml.pre name `moe convert` writes: the preset that splits like the
// tokenizer.json, judged by pieces, not by regex text — real files spell the same split
// differently ((?i:'s|...) in Qwen2 and Llama 3, literal CJK ranges in DeepSeek-V3).
TEST(TokenizerHf, GgufPreName) {
  auto name = [](json tj, std::string_view preferred = "") {
    auto n = Tokenizer::GgufPreName(tj, preferred);
    return n.ok() ? *n : "error: " + n.status().message();
  };
  auto split = [](std::string regex) {
    return json{{"type", "Split"}, {"pattern", {{"Regex", std::move(regex)}}}, {"behavior", "Isolated"},
                {"invert", false}};
  };
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  auto sequence = [&](std::vector<json> splits) {
    splits.push_back(byte_level);
    return json{{"type", "Sequence"}, {"pretokenizers", splits}};
  };
  const std::string contractions = R"((?i:'s|'t|'re|'ve|'m|'ll|'d))";
  const std::string tail = R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

  // The conformance tokenizers: plain ByteLevel (GPT-2's regex), whatever the family.
  const json kit = ReadJson(TokDir() + "/models/deepseek2-f32/tokenizer.json");
  EXPECT_EQ(name(kit, "deepseek-v3"), "gpt-2");
  EXPECT_EQ(name(TinyJson({{"type", "ByteLevel"}, {"use_regex", true}}), "qwen2"), "gpt-2");

  json t = TinyJson(sequence({split(contractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)" + tail)}));
  EXPECT_EQ(name(t, "deepseek-v3"), "qwen2");  // Qwen2 / Qwen3
  t = TinyJson(sequence({split(contractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)" + tail)}));
  EXPECT_EQ(name(t), "dbrx");  // Llama 3's split without ignore_merges
  t["model"]["ignore_merges"] = true;
  EXPECT_EQ(name(t), "llama-bpe");  // Llama 3
  t = TinyJson(sequence(
      {split(R"(\p{N}{1,3})"), split("[一-龥\u3040-ゟ゠-ヿ]+"),
       split(R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)")}));
  EXPECT_EQ(name(t, "deepseek-v3"), "deepseek-v3");  // DeepSeek-V3 / R1 / Kimi-style sequence

  // A split no preset makes is refused rather than written under a wrong name.
  const std::string refused = name(TinyJson(sequence({split(R"(\s+|\S{1,2})")})), "qwen2");
  EXPECT_EQ(refused.rfind("error: tokenizer.json: the pre_tokenizer", 0), 0u) << refused;
  EXPECT_NE(refused.find("tried qwen2"), std::string::npos) << refused;
  EXPECT_EQ(refused.find('\n'), std::string::npos);
  EXPECT_EQ(name(TinyJson({{"type", "Metaspace"}})).rfind("error: ", 0), 0u);
}

}  // namespace
}  // namespace moe
