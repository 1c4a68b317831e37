// End-to-end tests of the `moe` binary: synth → run/info/eval-logits on every family,
// `moe info` numbers for the bench presets against formulas written out from the shapes,
// a Hugging Face folder with an MTP layer through info and convert, and the one-line error /
// exit code 1 convention on bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

struct Outcome {
  int code;
  std::string out;  // stdout
  std::string err;  // stderr
};

Outcome Moe(const std::string& args) {
  // ctest runs the tests of this binary as parallel processes sharing TempDir(): the pid
  // keeps their stderr files apart (a shared name once emptied another test's stderr).
  static int counter = 0;
  std::string err_path = ::testing::TempDir() + "/moe_stderr_" + std::to_string(getpid()) + "_" +
                         std::to_string(counter++);
  std::string cmd = std::string(MOE_BINARY) + " " + args + " 2>" + err_path;
  Outcome r{0, "", ""};
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_path);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  std::filesystem::remove(err_path);
  return r;
}

std::string Tmp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

class SynthRun : public ::testing::TestWithParam<std::tuple<std::string, std::string, std::string>> {};

TEST_P(SynthRun, SynthThenRunAndInfo) {
  auto [arch, preset, type] = GetParam();
  std::string path = Tmp(arch + "-" + preset + "-" + type + ".gguf");
  Outcome s = Moe("synth --arch " + arch + " --preset " + preset + " --type " + type + " --seed 3 -o " + path);
  ASSERT_EQ(s.code, 0) << s.err;
  Outcome r = Moe("run -m " + path + " --tokens 1,2,3,4 -n 6 -t 2");
  ASSERT_EQ(r.code, 0) << r.err;
  // Six comma-separated ids (or fewer if the model hit end-of-sequence).
  std::string ids = r.out.substr(0, r.out.find('\n'));
  EXPECT_FALSE(ids.empty());
  EXPECT_LE(std::count(ids.begin(), ids.end(), ','), 5);
  Outcome i = Moe("info --json -m " + path);
  ASSERT_EQ(i.code, 0) << i.err;
  auto j = nlohmann::json::parse(i.out);
  EXPECT_GT(j["parameters"]["total"].get<uint64_t>(), j["parameters"]["active_per_token"].get<uint64_t>());
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(
    Families, SynthRun,
    ::testing::Combine(::testing::Values("llama", "qwen3moe", "deepseek-v3"), ::testing::Values("tiny"),
                       ::testing::Values("f32", "f16", "bf16", "q8_0")));
INSTANTIATE_TEST_SUITE_P(
    Small, SynthRun,
    ::testing::Combine(::testing::Values("llama", "qwen3moe", "deepseek-v3"), ::testing::Values("small"),
                       ::testing::Values("q8_0")));

// Same seed, same file; another seed, another model: the synth output is reproducible.
TEST(Synth, DeterministicPerSeed) {
  auto read = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  ASSERT_EQ(Moe("synth --arch qwen3moe --preset tiny --seed 5 -o " + Tmp("a.gguf")).code, 0);
  ASSERT_EQ(Moe("synth --arch qwen3moe --preset tiny --seed 5 -o " + Tmp("b.gguf")).code, 0);
  ASSERT_EQ(Moe("synth --arch qwen3moe --preset tiny --seed 6 -o " + Tmp("c.gguf")).code, 0);
  EXPECT_EQ(read(Tmp("a.gguf")), read(Tmp("b.gguf")));
  EXPECT_NE(read(Tmp("a.gguf")), read(Tmp("c.gguf")));
}

// Logits of synth models are not flat: the output head has spread.
TEST(Synth, LogitsAreNotFlat) {
  std::string m = Tmp("flat.gguf");
  ASSERT_EQ(Moe("synth --arch deepseek-v3 --preset tiny -o " + m).code, 0);
  std::ofstream(Tmp("toks.json")) << "[1, 50, 100, 7]";
  ASSERT_EQ(Moe("eval-logits -m " + m + " --tokens-file " + Tmp("toks.json") + " --out " + Tmp("l.f32")).code, 0);
  std::ifstream in(Tmp("l.f32"), std::ios::binary);
  std::vector<float> v(4 * 512);
  in.read(reinterpret_cast<char*>(v.data()), v.size() * 4);
  ASSERT_TRUE(in.good());
  double mean = 0, var = 0;
  for (float x : v) mean += x / v.size();
  for (float x : v) var += (x - mean) * (x - mean) / v.size();
  EXPECT_GT(std::sqrt(var), 0.5);
  EXPECT_LT(std::sqrt(var), 20.0);
}

// Parameter counts of the bench presets, written out from the shapes in the engine-core
// issue (independent of the code under test). Active = everything a decoded token reads:
// all but the embedding table and the unselected routed experts.
TEST(Info, BenchPresetNumbers) {
  struct Want {
    const char* arch;
    uint64_t total, active, kv_per_token;
  };
  const uint64_t V = 32000, E = 1024;
  // qwen3moe: 24 layers, q 16·128, kv 4·128, 64 experts of 512, 8 active, q/k norms of 128.
  const uint64_t q_attn = E * 2048 + 2 * E * 512 + 2048 * E + 2 * 128 + 2 * E;
  const uint64_t q_expert = 3 * 512 * E, q_router = 64 * E;
  const uint64_t q_total = 2 * V * E + E + 24 * (q_attn + 64 * q_expert + q_router);
  const uint64_t q_active = V * E + E + 24 * (q_attn + 8 * q_expert + q_router);
  // deepseek-v3: 16 layers of MLA, 1 dense (2816), 15 MoE of 64 × 704 (6 active), 2 shared.
  const uint64_t mla = 768 * E + 768 + 16 * 192 * 768 + 576 * E + 512 + 16 * 256 * 512 + E * 16 * 128 + 2 * E;
  const uint64_t d_dense = 3 * 2816 * E, d_expert = 3 * 704 * E, d_shared = 3 * 1408 * E, d_router = 64 * E + 64;
  const uint64_t d_total = 2 * V * E + E + 16 * mla + d_dense + 15 * (64 * d_expert + d_shared + d_router);
  const uint64_t d_active = V * E + E + 16 * mla + d_dense + 15 * (6 * d_expert + d_shared + d_router);
  for (const Want& w : {Want{"qwen3moe", q_total, q_active, 24 * 2 * 512 * 4},
                        Want{"deepseek-v3", d_total, d_active, 16 * (512 + 64) * 4}}) {
    std::string path = Tmp(std::string(w.arch) + "-bench.gguf");
    ASSERT_EQ(Moe(std::string("synth --no-data --preset bench --type q8_0 --arch ") + w.arch + " -o " + path).code, 0);
    Outcome i = Moe("info --json -m " + path);
    ASSERT_EQ(i.code, 0) << i.err;
    auto j = nlohmann::json::parse(i.out);
    EXPECT_EQ(j["parameters"]["total"].get<uint64_t>(), w.total) << w.arch;
    EXPECT_EQ(j["parameters"]["active_per_token"].get<uint64_t>(), w.active) << w.arch;
    // The default bf16 entries take half the bytes of float32 ones.
    EXPECT_EQ(j["memory"]["kv_cache_bytes_per_1k_tokens"].get<uint64_t>(), w.kv_per_token * 1024 / 2) << w.arch;
    EXPECT_EQ(j["memory"]["kv_cache_type"], "bf16") << w.arch;
    Outcome h = Moe("info --json --kv-type f32 -m " + path);
    ASSERT_EQ(h.code, 0) << h.err;
    auto jh = nlohmann::json::parse(h.out);
    EXPECT_EQ(jh["memory"]["kv_cache_bytes_per_1k_tokens"].get<uint64_t>(), w.kv_per_token * 1024) << w.arch;
    EXPECT_EQ(jh["memory"]["kv_cache_type"], "f32") << w.arch;
    std::filesystem::remove(path);
  }
  // The published sizes of these presets: qwen3moe-bench ~2.61 B total, ~0.46 B active;
  // deepseek-v3-bench ~0.43 B active.
  EXPECT_NEAR(q_total / 1e9, 2.61, 0.01);
  EXPECT_NEAR(q_active / 1e9, 0.46, 0.01);
  EXPECT_NEAR(d_active / 1e9, 0.43, 0.01);
}

// The bench shapes run end to end (weights left as zeros in a sparse file, so the test stays fast).
TEST(Synth, BenchPresetsRun) {
  for (const char* arch : {"llama", "qwen3moe", "deepseek-v3"}) {
    std::string path = Tmp(std::string(arch) + "-bench-run.gguf");
    ASSERT_EQ(Moe(std::string("synth --no-data --preset bench --type q8_0 --arch ") + arch + " -o " + path).code, 0);
    Outcome r = Moe("run -m " + path + " --tokens 1,2 -n 2 -t 2");
    EXPECT_EQ(r.code, 0) << arch << ": " << r.err;
    std::filesystem::remove(path);
  }
}

// Text in, text out: tokenize/detokenize round trip on a synth model and on a kit vocab-only
// file, and `moe run -p` streaming text.
TEST(Text, TokenizeDetokenizeRun) {
  std::string m = Tmp("text.gguf");
  ASSERT_EQ(Moe("synth --arch qwen3moe --preset tiny -o " + m).code, 0);
  std::ofstream(Tmp("in.txt")) << "Hello world, the quick brown fox <|im_start|>user";
  Outcome t = Moe("tokenize -m " + m + " < " + Tmp("in.txt"));
  ASSERT_EQ(t.code, 0) << t.err;
  auto ids = nlohmann::json::parse(t.out);
  ASSERT_GT(ids.size(), 3u);
  Outcome t2 = Moe("tokenize --no-parse-special --no-bos -m " + m + " < " + Tmp("in.txt"));
  auto ids2 = nlohmann::json::parse(t2.out);
  EXPECT_GT(ids2.size(), ids.size() - 2);  // "<|im_start|>" spelled out in bytes/merges
  std::string list;
  for (auto& v : ids2) list += (list.empty() ? "" : ",") + std::to_string(v.get<int>());
  Outcome d = Moe("detokenize -m " + m + " " + list);
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out, "Hello world, the quick brown fox <|im_start|>user");
  Outcome r = Moe("run -m " + m + " -p 'Once upon a time' -n 8 --temp 0.8 --seed 3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time", 0), 0u) << r.out;
  std::string vocab = std::string(MOE_TEST_DATA) + "/tokenizer/ggml-vocab-gpt-2.gguf";
  std::ofstream(Tmp("in2.txt")) << "Hello world";
  Outcome v = Moe("tokenize -m " + vocab + " < " + Tmp("in2.txt"));
  ASSERT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(nlohmann::json::parse(v.out), nlohmann::json::parse("[15496, 995]"));  // GPT-2's ids
}

// `moe template` renders a real template exactly (first kit case), and a raising template
// exits 1 with its message.
TEST(Text, TemplateCommand) {
  const std::string kit = std::string(MOE_TEST_DATA) + "/chat-templates/";
  std::ifstream cases(kit + "cases.jsonl");
  std::string line;
  std::getline(cases, line);
  auto c = nlohmann::ordered_json::parse(line);
  std::ifstream conv(kit + c["conversation"].get<std::string>());
  auto context = nlohmann::ordered_json::parse(conv);
  if (!context.is_object()) context = nlohmann::ordered_json{{"messages", context}};
  for (auto& [k, v] : c["options"].items())
    if (k != "extra") context[k] = v;
  for (auto& [k, v] : c["options"]["extra"].items()) context[k] = v;
  std::ofstream(Tmp("ctx.json")) << context.dump();
  Outcome r = Moe("template --template " + kit + c["template"].get<std::string>() + " --context " + Tmp("ctx.json"));
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream exp(kit + c["expected"].get<std::string>(), std::ios::binary);
  std::string expected((std::istreambuf_iterator<char>(exp)), {});
  EXPECT_EQ(r.out, expected);
  std::ofstream(Tmp("raise.jinja")) << "{{ raise_exception('roles must alternate') }}";
  Outcome e = Moe("template --template " + Tmp("raise.jinja") + " --context " + Tmp("ctx.json"));
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(e.err.find("roles must alternate"), std::string::npos) << e.err;
}

void ExpectOneLineError(const Outcome& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("moe: ", 0), 0u) << r.err;
}

// A DeepSeek folder with a multi-token-prediction layer — the kit's 3-layer folder read as 2
// decoder layers + num_nextn_predict_layers = 1 — loads with the MTP layer left unused and
// `moe info` saying so; `moe convert` drops it too, and prints no progress line when stderr
// is not a terminal.
TEST(HfFolder, MtpNoteInInfoAndConvert) {
  namespace fs = std::filesystem;
  const std::string kit = std::string(MOE_TEST_DATA) + "/conformance/deepseek2-f32/hf/";
  const std::string dir = Tmp("mtp-folder");
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"})
    fs::create_symlink(kit + f, dir + "/" + f);
  std::ifstream in(kit + "config.json");
  nlohmann::json cfg = nlohmann::json::parse(in);
  cfg["num_hidden_layers"] = 2;
  cfg["num_nextn_predict_layers"] = 1;
  std::ofstream(dir + "/config.json") << cfg.dump(1);

  Outcome i = Moe("info -m " + dir);
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_NE(i.out.find("note              skipped "), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("tensors of multi-token-prediction layer 2 (not used for decoding)"), std::string::npos)
      << i.out;
  Outcome j = Moe("info --json -m " + dir);
  ASSERT_EQ(j.code, 0) << j.err;
  auto info = nlohmann::json::parse(j.out);
  EXPECT_EQ(info["config"]["num_hidden_layers"], 2);
  ASSERT_FALSE(info["notes"].empty());
  EXPECT_NE(info["notes"][0].get<std::string>().find("multi-token-prediction layer 2"), std::string::npos);
  EXPECT_TRUE(info["unused_tensors"].empty()) << info["unused_tensors"].dump();

  const std::string out = Tmp("mtp.gguf");
  Outcome c = Moe("convert " + dir + " --type q8_0 -o " + out);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.err, "wrote " + out + " (q8_0)\n");
  Outcome g = Moe("info --json -m " + out);
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(nlohmann::json::parse(g.out)["config"]["num_hidden_layers"], 2);
  fs::remove_all(dir);
  fs::remove(out);
}

// `moe synth --format hf --type f8`: a sharded DeepSeek FP8 folder (tiny, shards of at most
// 100 KB) that `moe info` describes as FP8 (bytes by type, the quantization note, every tensor
// bound), that runs from token ids and from text, and whose tokenizer is the GGUF's.
TEST(SynthHf, Fp8ShardedFolderThroughTheCli) {
  namespace fs = std::filesystem;
  const std::string dir = Tmp("synth-hf-f8");
  fs::remove_all(dir);
  Outcome s = Moe("synth --arch deepseek-v3 --preset tiny --format hf --type f8 --shard-size 0.0001 -o " + dir);
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(s.err, "wrote " + dir + " (deepseek-v3 tiny, f8, Hugging Face folder)\n");
  size_t shards = 0;
  for (const auto& e : fs::directory_iterator(dir)) shards += e.path().extension() == ".safetensors";
  EXPECT_GE(shards, 3u);
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                        "model.safetensors.index.json"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors"));

  Outcome i = Moe("info --json -m " + dir);
  ASSERT_EQ(i.code, 0) << i.err;
  auto j = nlohmann::json::parse(i.out);
  EXPECT_EQ(j["family"], "deepseek2");
  EXPECT_GT(j["bytes_by_dtype"].value("f8_e4m3", uint64_t{0}), j["bytes_by_dtype"].value("bf16", uint64_t{0}))
      << j["bytes_by_dtype"];
  EXPECT_GT(j["bytes_by_dtype"].value("bf16", uint64_t{0}), 0u) << j["bytes_by_dtype"];
  EXPECT_TRUE(j["unused_tensors"].empty()) << j["unused_tensors"];
  ASSERT_FALSE(j["notes"].empty());
  EXPECT_NE(j["notes"][0].get<std::string>().find("fp8 e4m3 with 128x128 block scales"), std::string::npos);
  Outcome text = Moe("info -m " + dir);
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("  f8_e4m3 "), std::string::npos) << text.out;

  Outcome r = Moe("run -m " + dir + " --tokens 1,2,3 -n 4 -t 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  Outcome p = Moe("run -m " + dir + " -p 'Once upon a time' -n 4 --temp 0");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out.rfind("Once upon a time", 0), 0u) << p.out;
  const std::string gguf = Tmp("synth-hf-twin.gguf");
  ASSERT_EQ(Moe("synth --arch deepseek-v3 --preset tiny -o " + gguf).code, 0);
  std::ofstream(Tmp("hf-in.txt")) << "Hello world, <|im_start|>user 1234 <think>";
  Outcome th = Moe("tokenize -m " + dir + " < " + Tmp("hf-in.txt"));
  Outcome tg = Moe("tokenize -m " + gguf + " < " + Tmp("hf-in.txt"));
  ASSERT_EQ(th.code, 0) << th.err;
  EXPECT_EQ(th.out, tg.out);
  fs::remove_all(dir);
  fs::remove(gguf);
}

// The bench presets as Hugging Face folders (weights left as sparse zeros) bind with the
// parameter count of the GGUF bench models, in bf16 and f8 (over 2 GB of FP8 linear weights
// in both bench models).
TEST(SynthHf, BenchShapesBind) {
  namespace fs = std::filesystem;
  for (const char* arch : {"qwen3moe", "deepseek-v3"}) {
    const std::string gguf = Tmp(std::string(arch) + "-bench-nodata.gguf");
    ASSERT_EQ(Moe(std::string("synth --no-data --preset bench --type bf16 --arch ") + arch + " -o " + gguf).code, 0);
    Outcome g = Moe("info --json -m " + gguf);
    ASSERT_EQ(g.code, 0) << g.err;
    const auto want = nlohmann::json::parse(g.out)["parameters"];
    for (const char* type : {"bf16", "f8"}) {
      const std::string dir = Tmp(std::string(arch) + "-bench-nodata-" + type);
      fs::remove_all(dir);
      Outcome s = Moe(std::string("synth --no-data --preset bench --format hf --type ") + type + " --arch " + arch +
                      " -o " + dir);
      ASSERT_EQ(s.code, 0) << s.err;
      Outcome i = Moe("info --json -m " + dir);
      ASSERT_EQ(i.code, 0) << arch << " " << type << ": " << i.err;
      auto j = nlohmann::json::parse(i.out);
      EXPECT_EQ(j["parameters"], want) << arch << " " << type;
      EXPECT_TRUE(j["unused_tensors"].empty()) << j["unused_tensors"];
      if (std::string(type) == "f8") {
        EXPECT_GT(j["bytes_by_dtype"].value("f8_e4m3", uint64_t{0}), uint64_t{2'000'000'000}) << j;
      }
      fs::remove_all(dir);
    }
    fs::remove(gguf);
  }
}

TEST(SynthHf, BadFlagsGiveOneLine) {
  ExpectOneLineError(Moe("synth --arch qwen3moe --format hf --type q8_0 -o " + Tmp("q8-folder")),
                     "--type q8_0 is GGUF-only; a Hugging Face folder takes f32, f16, bf16 or f8");
  ExpectOneLineError(Moe("synth --arch qwen3moe --type f8 -o " + Tmp("f8.gguf")),
                     "cannot be written as GGUF");
  ExpectOneLineError(Moe("synth --arch qwen3moe --format hf --shard-size 0 -o " + Tmp("s0")), "shard-size");
  ExpectOneLineError(Moe("synth --arch qwen3moe --shard-size 1 -o " + Tmp("s1.gguf")), "--shard-size applies to --format hf");
  ExpectOneLineError(Moe("synth --arch qwen3moe --format safetensors -o " + Tmp("x")), "safetensors");
  std::ofstream(Tmp("plain-file")) << "x";
  ExpectOneLineError(Moe("synth --arch qwen3moe --format hf -o " + Tmp("plain-file")), "not a directory");
}

// Every cache entry type runs a whole generation, on GQA and MLA models.
TEST(Run, KvTypesGenerate) {
  for (const char* arch : {"llama", "deepseek-v3"}) {
    const std::string m = Tmp(std::string("kv-") + arch + ".gguf");
    ASSERT_EQ(Moe(std::string("synth --preset tiny --arch ") + arch + " -o " + m).code, 0);
    for (const char* kv : {"f32", "bf16", "f16"}) {
      Outcome r = Moe("run -m " + m + " --tokens 1,2,3 -n 4 --temp 0 --kv-type " + kv);
      EXPECT_EQ(r.code, 0) << arch << " " << kv << ": " << r.err;
      EXPECT_FALSE(r.out.empty()) << arch << " " << kv;
    }
    std::filesystem::remove(m);
  }
}

// A DeepSeek GGUF whose kv_b is split per head (attn_k_b / attn_v_b, as newer llama.cpp
// conversions write it) runs and greedily generates what its unsplit twin does.
TEST(Run, SplitKvBGeneratesWhatTheUnsplitTwinDoes) {
  const std::string joined = Tmp("kvb-joined.gguf"), split = Tmp("kvb-split.gguf");
  ASSERT_EQ(Moe("synth --preset tiny --arch deepseek-v3 --type f32 -o " + joined).code, 0);
  ASSERT_EQ(Moe("synth --preset tiny --arch deepseek-v3 --type f32 --split-kv-b -o " + split).code, 0);
  const Outcome a = Moe("run -m " + joined + " --tokens 1,2,3 -n 6 --temp 0 --act-quant 0");
  const Outcome b = Moe("run -m " + split + " --tokens 1,2,3 -n 6 --temp 0 --act-quant 0");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(b.out, a.out);
  ExpectOneLineError(Moe("synth --preset tiny --arch deepseek-v3 --format hf --split-kv-b -o " + Tmp("kvb-hf")),
                     "--split-kv-b");
  std::filesystem::remove(joined);
  std::filesystem::remove(split);
}

// Greedy runs give the same tokens whichever weight types are repacked at load (the logits
// themselves are compared bitwise in tests/model/tiling_test.cc).
TEST(Run, RepackListsGenerateTheSameTokens) {
  for (const char* type : {"q8_0", "bf16"}) {
    const std::string m = Tmp(std::string("repack-") + type + ".gguf");
    ASSERT_EQ(Moe(std::string("synth --preset tiny --arch qwen3moe --type ") + type + " -o " + m).code, 0);
    const Outcome none = Moe("run -m " + m + " --tokens 1,2,3 -n 6 --temp 0 --repack none");
    ASSERT_EQ(none.code, 0) << none.err;
    for (const char* list : {"bf16", "q8_0", "bf16,q8_0", "all"}) {
      const Outcome r = Moe("run -m " + m + " --tokens 1,2,3 -n 6 --temp 0 --repack " + list);
      EXPECT_EQ(r.code, 0) << type << " " << list << ": " << r.err;
      EXPECT_EQ(r.out, none.out) << type << " --repack " << list;
    }
    std::filesystem::remove(m);
  }
}

// `moe bench --json`: one object per test with the fields, medians of the samples,
// and decode's roofline fraction as the median of each run's tokens/s x active bytes over
// the bandwidth read beside that run.
TEST(Bench, JsonReportsEveryTestAgainstItsOwnReadings) {
  const std::string m = Tmp("bench-tiny.gguf");
  ASSERT_EQ(Moe("synth --preset tiny --arch deepseek-v3 -o " + m).code, 0);
  Outcome r = Moe("bench -m " + m + " -p 8,16 -n 4 -r 3 -t 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  const std::vector<std::string> names = {"pp8", "pp16", "tg4"};
  for (size_t k = 0; k < 3; ++k) {
    const auto& t = j[k];
    EXPECT_EQ(t["test"], names[k]);
    EXPECT_EQ(t["threads"], 2);
    const auto samples = t["samples"].get<std::vector<double>>();
    ASSERT_EQ(samples.size(), 3u);
    EXPECT_DOUBLE_EQ(t["tokens_per_s"].get<double>(), median(samples));
    EXPECT_GT(t["read_bandwidth_gbs"].get<double>(), 0);
    EXPECT_EQ(t.contains("roofline_fraction"), k == 2) << names[k];
    EXPECT_EQ(t.contains("gflops"), k < 2) << names[k];
  }
  const auto& tg = j[2];
  const auto bw = tg["read_bandwidth_samples"].get<std::vector<double>>();
  const auto rates = tg["samples"].get<std::vector<double>>();
  ASSERT_EQ(bw.size(), 3u);
  const double bytes = tg["active_bytes_per_token"].get<double>();
  std::vector<double> fractions;
  for (size_t i = 0; i < 3; ++i) fractions.push_back(rates[i] * bytes / (bw[i] * 1e9));
  EXPECT_NEAR(tg["roofline_fraction"].get<double>(), median(fractions), 1e-12);
  EXPECT_DOUBLE_EQ(tg["read_bandwidth_gbs"].get<double>(), median(bw));
  std::filesystem::remove(m);
}

TEST(Errors, BadFilesAndFlagsGiveOneLine) {
  std::string m = Tmp("ok.gguf");
  ASSERT_EQ(Moe("synth --arch llama --preset tiny -o " + m).code, 0);
  // Truncated model.
  {
    std::ifstream in(m, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(Tmp("cut.gguf"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  ExpectOneLineError(Moe("info -m " + Tmp("cut.gguf")), "beyond the end of the file");
  std::ofstream(Tmp("junk.gguf")) << "this is not a model at all, just text";
  ExpectOneLineError(Moe("info -m " + Tmp("junk.gguf")), "not a GGUF file");
  ExpectOneLineError(Moe("info -m /nonexistent.gguf"), "cannot open");
  ExpectOneLineError(Moe("run -m " + m + " --tokens 1,99999 -n 1"), "outside the vocabulary");
  ExpectOneLineError(Moe("run -m " + m + " --tokens 1,x -n 1"), "not a token id");
  ExpectOneLineError(Moe("run -m " + m + " --tokens 1 --temp -3"), "temperature");
  ExpectOneLineError(Moe("run -m " + m + " --tokens 1 --bogus-flag"), "bogus");
  ExpectOneLineError(Moe("synth --arch gpt5 -o x.gguf"), "gpt5");
  ExpectOneLineError(Moe("run -m " + m + " --tokens 1 -n 1 --kv-type q4_0"), "q4_0");
  ExpectOneLineError(Moe("run -m " + m + " --tokens 1 -n 1 --repack bf16,f32"), "f32");
  std::ofstream(Tmp("bad.json")) << "[1, 2, \"three\"]";
  ExpectOneLineError(Moe("eval-logits -m " + m + " --tokens-file " + Tmp("bad.json") + " --out " + Tmp("o.f32")),
                     "not a token id");
}

}  // namespace
