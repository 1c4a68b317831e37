// `moe convert` (model/convert.h) on the conformance kit's Hugging Face folders: the GGUF it
// writes must load and reproduce independent references — the kit's own references of the
// variant the conversion produces (f32 -> q8_0 is the kit's q8_0 model, bf16 -> bf16 its bf16
// model, fp8 -> f32 the dequantized fp8 model) — agree with the kit's GGUF twins, and carry
// the folder's tokenizer and chat template.
#include "model/convert.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "io/gguf.h"
#include "model/eval.h"
#include "tokenizer/tokenizer.h"

namespace moe {
namespace {

namespace fs = std::filesystem;
const std::string kKit = std::string(MOE_TEST_DATA) + "/conformance/";

std::vector<float> ReadF32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  std::vector<float> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

std::vector<int32_t> Tokens(const std::string& kase, int seq) {
  std::ifstream in(kKit + kase + "/refs/seq" + std::to_string(seq) + ".tokens.json");
  return nlohmann::json::parse(in).get<std::vector<int32_t>>();
}

struct Diff {
  double max_abs = 0;
  double top1 = 0;
};

Diff Compare(const std::vector<float>& a, const std::vector<float>& b, size_t vocab) {
  Diff d;
  size_t agree = 0, rows = b.size() / vocab;
  for (size_t i = 0; i < b.size(); ++i) d.max_abs = std::max(d.max_abs, std::fabs(double(a[i]) - b[i]));
  for (size_t r = 0; r < rows; ++r)
    agree += std::max_element(a.begin() + r * vocab, a.begin() + (r + 1) * vocab) - a.begin() ==
             std::max_element(b.begin() + r * vocab, b.begin() + (r + 1) * vocab) - b.begin();
  d.top1 = double(agree) / rows;
  return d;
}

class ConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("moe_convert_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Converts `from`'s hf folder to `type`, loaded.
  std::unique_ptr<Model> Convert(const std::string& from, DType type) {
    const std::string out = (dir_ / (from + "." + std::string(DTypeName(type)) + ".gguf")).string();
    Status s = ConvertHfToGguf(kKit + from + "/hf", type, out);
    EXPECT_TRUE(s.ok()) << s.message();
    auto m = Model::Load(out, {});
    EXPECT_TRUE(m.ok()) << m.status().message();
    return m.ok() ? std::move(*m) : nullptr;
  }
  // Logits of every sequence of `kase` against its references `suffix` ("" or ".exact").
  void ExpectRefs(Model& m, const std::string& kase, const std::string& suffix, double max_abs) {
    ThreadPool pool(2);
    for (int seq = 0; seq < 3; ++seq) {
      auto logits = EvalLogits(m, Tokens(kase, seq), pool);
      ASSERT_TRUE(logits.ok()) << logits.status().message();
      const Diff d = Compare(*logits, ReadF32(kKit + kase + "/refs/seq" + std::to_string(seq) + suffix + ".logits.f32"),
                             static_cast<size_t>(m.config().vocab_size));
      EXPECT_LE(d.max_abs, max_abs) << kase << suffix << " seq" << seq;
      EXPECT_EQ(d.top1, 1.0) << kase << suffix << " seq" << seq;
    }
  }
  fs::path dir_;
};

// The logits of `a` and `b` on a case's 100-token sequence.
Diff CompareModels(Model& a, Model& b, const std::string& kase) {
  ThreadPool pool(2);
  auto la = EvalLogits(a, Tokens(kase, 2), pool);
  auto lb = EvalLogits(b, Tokens(kase, 2), pool);
  EXPECT_TRUE(la.ok() && lb.ok());
  if (!la.ok() || !lb.ok()) return {1e9, 0};
  return Compare(*la, *lb, static_cast<size_t>(a.config().vocab_size));
}

// f32 weights rounded to Q8_0 as the kit's q8_0 GGUF was made (ggml's quantize_row_q8_0_ref,
// norms and router F32): the kit's exact q8_0 references under the manifest's tolerance
// (1e-3 deepseek2, 1e-2 qwen3moe), and the kit's q8_0 GGUF (same weights: equal logits).
TEST_F(ConvertTest, F32ToQ8_0IsTheKitsQ8_0Model) {
  for (auto [family, tol] : {std::pair<const char*, double>{"deepseek2", 1e-3}, {"qwen3moe", 1e-2}}) {
    auto m = Convert(std::string(family) + "-f32", DType::kQ8_0);
    ASSERT_TRUE(m);
    ExpectRefs(*m, std::string(family) + "-q8_0", ".exact", tol);
    auto twin = Model::Load(kKit + family + "-q8_0/model.gguf", {});
    ASSERT_TRUE(twin.ok());
    EXPECT_LE(CompareModels(*m, **twin, std::string(family) + "-q8_0").max_abs, 1e-5) << family;
  }
}

// bf16 weights kept as they are: the kit's exact bf16 references, and its bf16 GGUF twin.
TEST_F(ConvertTest, Bf16ToBf16MatchesReferenceAndTwin) {
  auto m = Convert("deepseek2-bf16", DType::kBF16);
  ASSERT_TRUE(m);
  ExpectRefs(*m, "deepseek2-bf16", ".exact", 1e-3);
  auto twin = Model::Load(kKit + "deepseek2-bf16/model.gguf", {});
  ASSERT_TRUE(twin.ok());
  EXPECT_LE(CompareModels(*m, **twin, "deepseek2-bf16").max_abs, 1e-5);  // same weights
}

// FP8 dequantized block by block to f32 is lossless: the kit's fp8 references (1e-3).
TEST_F(ConvertTest, Fp8ToF32IsTheDequantizedModel) {
  auto m = Convert("deepseek2-fp8", DType::kF32);
  ASSERT_TRUE(m);
  ExpectRefs(*m, "deepseek2-fp8", "", 1e-3);
}

// FP8 to bf16 rounds each dequantized weight once more (relative 2^-8), the size of
// perturbation the kit bounds by its bf16 tolerance (max 0.5, top-1 0.95 there; these
// sequences keep every top-1 with a 0.3 margin).
TEST_F(ConvertTest, Fp8ToBf16StaysCloseToTheFolder) {
  auto m = Convert("deepseek2-fp8", DType::kBF16);
  ASSERT_TRUE(m);
  ExpectRefs(*m, "deepseek2-fp8", "", 0.5);
}

// ConvertOptions::progress: one line on stderr, redrawn with '\r', ending at 100% with GB and
// GB/s; off by default (`moe convert` turns it on only when stderr is a terminal).
TEST_F(ConvertTest, ProgressOnlyWhenAsked) {
  const std::string out = (dir_ / "p.gguf").string();
  ::testing::internal::CaptureStderr();
  Status s = ConvertHfToGguf(kKit + "deepseek2-bf16/hf", DType::kBF16, out, {.progress = true});
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(err.rfind("\rconverting " + out + " [", 0), 0u) << err;
  EXPECT_NE(err.find("100.0%"), std::string::npos) << err;
  EXPECT_NE(err.find("GB/s\n"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;

  ::testing::internal::CaptureStderr();
  s = ConvertHfToGguf(kKit + "deepseek2-bf16/hf", DType::kBF16, out);
  err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(err, "");
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every input of the kit's tokenizer vectors (tests/data/tokenizer/*.inp: "<input>\n__ggml_vocab_test__\n"
// repeated), distinct, plus text with special tokens written in it.
std::vector<std::string> KitTokenizerTexts() {
  std::set<std::string> texts;
  for (const auto& f : fs::directory_iterator(std::string(MOE_TEST_DATA) + "/tokenizer")) {
    if (f.path().extension() != ".inp") continue;
    const std::string data = ReadText(f.path().string()), sep = "\n__ggml_vocab_test__\n";
    for (size_t pos = 0, hit; (hit = data.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
      texts.insert(data.substr(pos, hit - pos));
  }
  texts.insert("<|im_start|>user\nhi 1000 times<|im_end|>\n<｜begin▁of▁sentence｜>x<｜end▁of▁sentence｜>");
  return {texts.begin(), texts.end()};
}

// The tokenizer written into the GGUF is the folder's own: the kit's tokenizer test strings give
// the same ids from the GGUF as from tokenizer.json (plain, and with BOS/EOS and special-token
// parsing), BOS/EOS/end-of-generation ids agree, and the chat template is carried verbatim
// whether the folder keeps it in tokenizer_config.json or in chat_template.jinja.
TEST_F(ConvertTest, TokenizerIsTheFolders) {
  const std::vector<std::string> texts = KitTokenizerTexts();
  ASSERT_GT(texts.size(), 40u);
  struct Case {
    const char* kase;
    const char* chat_template;  // in tests/data/chat-templates/templates
    bool jinja_file;            // chat_template.jinja instead of tokenizer_config.json
  };
  for (const Case& c : {Case{"deepseek2-f32", "deepseek-ai-DeepSeek-V3.1.jinja", false},
                        Case{"qwen3moe-f32", "Qwen-Qwen3-0.6B.jinja", true}}) {
    SCOPED_TRACE(c.kase);
    const fs::path hf = dir_ / c.kase;
    fs::create_directories(hf);
    for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "model.safetensors"})
      fs::create_symlink(kKit + c.kase + "/hf/" + f, hf / f);
    const std::string tmpl = ReadText(std::string(MOE_TEST_DATA) + "/chat-templates/templates/" + c.chat_template);
    ASSERT_FALSE(tmpl.empty());
    nlohmann::json cfg = nlohmann::json::parse(ReadText(kKit + c.kase + "/hf/tokenizer_config.json"));
    if (c.jinja_file) std::ofstream(hf / "chat_template.jinja", std::ios::binary) << tmpl;
    else cfg["chat_template"] = tmpl;
    std::ofstream(hf / "tokenizer_config.json") << cfg.dump(1);

    const std::string out = (dir_ / (std::string(c.kase) + ".gguf")).string();
    Status s = ConvertHfToGguf(hf.string(), DType::kQ8_0, out);
    ASSERT_TRUE(s.ok()) << s.message();
    auto gguf = GgufFile::Open(out);
    ASSERT_TRUE(gguf.ok()) << gguf.status().message();
    auto gt = Tokenizer::FromGguf(*gguf);
    ASSERT_TRUE(gt.ok()) << gt.status().message();
    const nlohmann::json tj = nlohmann::json::parse(ReadText((hf / "tokenizer.json").string()));
    auto ht = Tokenizer::FromHfJson(tj, &cfg);
    ASSERT_TRUE(ht.ok()) << ht.status().message();
    const Tokenizer &g = **gt, &h = **ht;
    EXPECT_TRUE(g.warnings().empty()) << g.warnings().front();

    EXPECT_EQ(g.bos_id(), h.bos_id());
    EXPECT_EQ(g.eos_id(), h.eos_id());
    EXPECT_EQ(g.add_bos(), h.add_bos());
    EXPECT_EQ(g.add_eos(), h.add_eos());
    EXPECT_EQ(g.EogIds(), h.EogIds());
    // What `moe run` stops on for the folder (its tokenizer's ids plus generation_config's
    // eos_token_id) is what it stops on for the GGUF.
    const nlohmann::json gen = nlohmann::json::parse(ReadText((hf / "generation_config.json").string()));
    const nlohmann::json eos = gen["eos_token_id"].is_array() ? gen["eos_token_id"] : nlohmann::json::array({gen["eos_token_id"]});
    for (const auto& id : eos) EXPECT_TRUE(g.IsEog(id.get<int32_t>())) << id;

    const GgufValue* ct = gguf->Find("tokenizer.chat_template");
    ASSERT_TRUE(ct && ct->AsString());
    EXPECT_EQ(*ct->AsString(), tmpl);

    int mismatches = 0;
    for (const std::string& t : texts)
      for (bool special : {false, true}) {
        const auto want = h.Encode(t, special, special), got = g.Encode(t, special, special);
        if (want != got && ++mismatches <= 5)
          ADD_FAILURE() << "'" << t << "' (special " << special << "): tokenizer.json " << ::testing::PrintToString(want)
                        << ", GGUF " << ::testing::PrintToString(got);
      }
    EXPECT_EQ(mismatches, 0);
  }
}

TEST_F(ConvertTest, Errors) {
  Status s = ConvertHfToGguf(kKit + "llama-f32/hf", DType::kBF16, (dir_ / "x.gguf").string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'llama' is not supported yet"), std::string::npos) << s.message();
  s = ConvertHfToGguf(kKit + "deepseek2-f32/hf", DType::kF16, (dir_ / "x.gguf").string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("f16"), std::string::npos) << s.message();
  s = ConvertHfToGguf(kKit + "no-such-case/hf", DType::kBF16, (dir_ / "x.gguf").string());
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace moe
