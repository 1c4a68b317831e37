// `moe synth --format hf` (model/synth_hf.h): the folders hold exactly the GGUF synth model's
// values (f32 twins: same bytes tensor by tensor, same config, same logits), FP8 folders hold
// those values rounded as DeepSeek's block quantization prescribes and compute exactly their
// dequantized model, sharded folders load, the tokenizer files tokenize as the GGUF does, and
// bad requests fail with a message.
#include "model/synth_hf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <tuple>

#include "io/gguf.h"
#include "io/hf_folder.h"
#include "io/safetensors.h"
#include "model/convert.h"
#include "model/eval.h"
#include "model/hf_config.h"
#include "model/synth_hf_json.h"
#include "tokenizer/tokenizer.h"

namespace moe {
namespace {

namespace fs = std::filesystem;

class SynthHfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("moe_synth_hf_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Gguf(const std::string& arch, const std::string& preset) {
    const std::string path = (dir_ / (arch + "-" + preset + ".gguf")).string();
    Status s = SynthesizeModel({.arch = arch, .preset = preset, .seed = 7}, path);
    EXPECT_TRUE(s.ok()) << s.message();
    return path;
  }
  std::string Folder(const std::string& arch, const std::string& preset, DType type,
                     uint64_t shard_bytes = 4'000'000'000) {
    const std::string path = (dir_ / (arch + "-" + preset + "-" + std::string(DTypeName(type)))).string();
    Status s = SynthesizeHfFolder(
        {.arch = arch, .preset = preset, .type = type, .seed = 7, .shard_bytes = shard_bytes}, path);
    EXPECT_TRUE(s.ok()) << s.message();
    return path;
  }
  fs::path dir_;
};

std::unique_ptr<Model> Load(const std::string& path) {
  auto m = Model::Load(path, {});
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return nullptr;
  (*m)->SetQuantizedActivations(false);  // float32 activations: the exact arithmetic
  return std::move(*m);
}

// 33 positions: BOS, then normal tokens spread over the vocabulary.
std::vector<int32_t> Tokens(const ModelConfig& c) {
  const SynthVocab v = BuildSynthVocab(static_cast<size_t>(c.vocab_size));
  std::vector<int32_t> t = {v.bos};
  for (int i = 1; i < 33; ++i) t.push_back((i * 37 + 11) % v.bos);
  return t;
}

std::vector<float> Logits(const Model& m) {
  ThreadPool pool(2);
  auto l = EvalLogits(m, Tokens(m.config()), pool);
  EXPECT_TRUE(l.ok()) << l.status().message();
  return l.ok() ? *l : std::vector<float>();
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

void ExpectSameConfig(const ModelConfig& hf, const ModelConfig& want) {
  EXPECT_EQ(hf.architecture, want.architecture);
  EXPECT_EQ(hf.name, want.name);
  for (auto [field, a, b] : std::vector<std::tuple<const char*, int64_t, int64_t>>{
           {"vocab_size", hf.vocab_size, want.vocab_size},
           {"hidden_size", hf.hidden_size, want.hidden_size},
           {"intermediate_size", hf.intermediate_size, want.intermediate_size},
           {"num_hidden_layers", hf.num_hidden_layers, want.num_hidden_layers},
           {"num_attention_heads", hf.num_attention_heads, want.num_attention_heads},
           {"num_key_value_heads", hf.num_key_value_heads, want.num_key_value_heads},
           {"head_dim", hf.head_dim, want.head_dim},
           {"max_position_embeddings", hf.max_position_embeddings, want.max_position_embeddings},
           {"rope_dim", hf.rope_dim, want.rope_dim},
           {"original_max_position_embeddings", hf.rope_scaling.original_max_position_embeddings,
            want.rope_scaling.original_max_position_embeddings},
           {"num_experts", hf.num_experts, want.num_experts},
           {"num_experts_per_tok", hf.num_experts_per_tok, want.num_experts_per_tok},
           {"moe_intermediate_size", hf.moe_intermediate_size, want.moe_intermediate_size},
           {"n_shared_experts", hf.n_shared_experts, want.n_shared_experts},
           {"first_k_dense_replace", hf.first_k_dense_replace, want.first_k_dense_replace},
           {"n_group", hf.n_group, want.n_group},
           {"topk_group", hf.topk_group, want.topk_group},
           {"q_lora_rank", hf.q_lora_rank, want.q_lora_rank},
           {"kv_lora_rank", hf.kv_lora_rank, want.kv_lora_rank},
           {"qk_nope_head_dim", hf.qk_nope_head_dim, want.qk_nope_head_dim},
           {"qk_rope_head_dim", hf.qk_rope_head_dim, want.qk_rope_head_dim},
           {"v_head_dim", hf.v_head_dim, want.v_head_dim}})
    EXPECT_EQ(a, b) << field;
  // JSON numbers round-trip doubles exactly (shortest representation), unlike GGUF's f32.
  for (auto [field, a, b] : std::vector<std::tuple<const char*, double, double>>{
           {"rms_norm_eps", hf.rms_norm_eps, want.rms_norm_eps},
           {"rope_theta", hf.rope_theta, want.rope_theta},
           {"rope_scaling.factor", hf.rope_scaling.factor, want.rope_scaling.factor},
           {"beta_fast", hf.rope_scaling.beta_fast, want.rope_scaling.beta_fast},
           {"beta_slow", hf.rope_scaling.beta_slow, want.rope_scaling.beta_slow},
           {"mscale", hf.rope_scaling.mscale, want.rope_scaling.mscale},
           {"mscale_all_dim", hf.rope_scaling.mscale_all_dim, want.rope_scaling.mscale_all_dim},
           {"routed_scaling_factor", hf.routed_scaling_factor, want.routed_scaling_factor}})
    EXPECT_EQ(a, b) << field;
  EXPECT_EQ(hf.rope_scaling.type, want.rope_scaling.type);
  EXPECT_EQ(hf.qk_norm, want.qk_norm);
  EXPECT_EQ(hf.norm_topk_prob, want.norm_topk_prob);
  EXPECT_EQ(hf.scoring_func, want.scoring_func);
  // Hugging Face llama keeps q/k unpermuted and rotates halves; the GGUF rotates pairs.
  EXPECT_EQ(hf.rope_halves, want.architecture == "llama" ? true : want.rope_halves);
}

// Every tensor of folder `hf` (catalog in binder names) holds the bytes of its GGUF twin:
// routed expert E is slice E of the stacked tensor, and llama's q/k rows are the GGUF rows
// they were permuted from (llama.cpp's permute: GGUF row h*D + 2j + k is Hugging Face row
// h*D + k*D/2 + j). Every GGUF tensor, every expert of it, is covered.
void ExpectSameWeights(const HfCheckpoint& hf, const GgufFile& gg) {
  const ModelConfig& c = hf.config;
  const std::regex expert(R"((blk\.\d+\.ffn_(gate|up|down)_exps)\.(\d+)\.weight)");
  std::map<std::string, std::set<uint64_t>> covered;  // GGUF name -> experts seen (0 for plain)
  size_t mismatched_rows = 0;
  for (const TensorEntry& h : hf.catalog.entries()) {
    std::smatch m;
    std::string name = h.name;
    uint64_t e = 0;
    if (std::regex_match(h.name, m, expert)) {
      name = m[1].str() + ".weight";
      e = std::stoull(m[3].str());
    }
    const TensorEntry* g = gg.tensors().Find(name);
    ASSERT_NE(g, nullptr) << h.name;
    ASSERT_EQ(h.type_name, g->type_name.empty() ? std::string(GgmlTypeName(g->ggml_type)) : g->type_name) << h.name;
    covered[name].insert(e);
    const uint64_t rows = h.shape.size() == 2 ? h.shape[0] : 1, rb = h.nbytes / rows;
    const bool permuted =
        c.architecture == "llama" && (name.ends_with("attn_q.weight") || name.ends_with("attn_k.weight"));
    const uint64_t d = static_cast<uint64_t>(c.head_dim);
    for (uint64_t gr = 0; gr < rows; ++gr) {
      const uint64_t hr = permuted ? gr / d * d + (gr % 2) * (d / 2) + gr % d / 2 : gr;
      if (std::memcmp(h.data + hr * rb, g->data + (e * rows + gr) * rb, rb) != 0 && ++mismatched_rows <= 5)
        ADD_FAILURE() << h.name << " row " << hr << " differs from " << name << " row " << e * rows + gr;
    }
  }
  for (const TensorEntry& g : gg.tensors().entries())
    EXPECT_EQ(covered[g.name].size(), g.shape.size() == 3 ? g.shape[0] : 1) << g.name;
}

class SynthHfTwin : public SynthHfTest, public ::testing::WithParamInterface<const char*> {};

// --type f32: the folder is the GGUF's model in another layout, so the bytes, the config and
// the logits agree. Logits: the same float32 operations, only llama's q.k sums run in another
// order (permuted head dimensions), float32 rounding of reductions over <= 128 terms: within
// 1e-5 of the largest logit.
TEST_P(SynthHfTwin, F32FolderIsTheGguf) {
  const std::string arch = GetParam();
  const std::string gguf = Gguf(arch, "tiny"), folder = Folder(arch, "tiny", DType::kF32);
  auto hf = LoadHfFolder(folder);
  ASSERT_TRUE(hf.ok()) << hf.status().message();
  auto gg = GgufFile::Open(gguf);
  ASSERT_TRUE(gg.ok()) << gg.status().message();
  auto want = SynthConfig(arch, "tiny");
  ASSERT_TRUE(want.ok());
  ExpectSameConfig(hf->config, *want);
  ExpectSameWeights(*hf, *gg);
  EXPECT_TRUE(hf->notes.empty()) << hf->notes.front();

  auto a = Load(folder), b = Load(gguf);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->unused_tensors().empty()) << a->unused_tensors().front();
  const std::vector<float> la = Logits(*a), lb = Logits(*b);
  ASSERT_EQ(la.size(), lb.size());
  ASSERT_FALSE(la.empty());
  double max_diff = 0;
  for (size_t i = 0; i < la.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(la[i]) - lb[i]));
  EXPECT_LE(max_diff, 1e-5 * MaxAbs(lb)) << arch;
}

INSTANTIATE_TEST_SUITE_P(Families, SynthHfTwin, ::testing::Values("llama", "qwen3moe", "deepseek-v3"),
                         [](const auto& info) {
                           return std::string(info.param) == "deepseek-v3" ? "deepseek_v3" : info.param;
                         });

// The storage type a folder of `type` gives a tensor (binder name), as DeepSeek publishes FP8.
std::string WantType(const std::string& name, DType type) {
  if (name.ends_with("exp_probs_b.bias")) return "F32";
  const bool linear = name.starts_with("blk.") && name.find("norm") == std::string::npos &&
                      name.find("ffn_gate_inp") == std::string::npos;
  if (type == DType::kF8E4M3) return linear ? "F8_E4M3" : "BF16";
  return type == DType::kBF16 ? "BF16" : type == DType::kF16 ? "F16" : "F32";
}

class SynthHfFp8 : public SynthHfTest,
                   public ::testing::WithParamInterface<std::pair<const char*, const char*>> {};

// --type f8 against --type f32 of the same seed, element by element. A linear weight w of a
// 128x128 block whose largest |w| is m is stored as q = e4m3(w / s) with s = m / 448 in
// weight_scale_inv (the loader computes q * s): q is F32ToF8E4M3's nearest code, and q * s is
// within half an e4m3 step of w (3 mantissa bits: |w| / 16 for normal codes, s * 2^-10 below
// 2^-6). Embeddings, lm_head, norms and the router are bf16(w); the routing bias is w. The
// small preset has partial blocks past the first (192 = 128 + 64 rows, 704 = 5 * 128 + 64
// columns), tiny has matrices smaller than one block.
TEST_P(SynthHfFp8, WeightsAreTheF32TwinsRounded) {
  const auto [arch, preset] = GetParam();
  auto f8 = LoadHfFolder(Folder(arch, preset, DType::kF8E4M3));
  auto f32 = LoadHfFolder(Folder(arch, preset, DType::kF32));
  ASSERT_TRUE(f8.ok() && f32.ok()) << f8.status().message() << f32.status().message();
  size_t bad = 0, checked = 0, scale_grids = 0;
  auto fail = [&](const std::string& what) {
    if (++bad <= 5) ADD_FAILURE() << what;
  };
  for (const TensorEntry& e : f8->catalog.entries()) {
    if (e.name.ends_with("_scale_inv")) continue;  // checked with its weight
    const TensorEntry* t = f32->catalog.Find(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    ASSERT_EQ(e.type_name, WantType(e.name, DType::kF8E4M3)) << e.name;
    ASSERT_EQ(e.shape, t->shape) << e.name;
    const float* w = reinterpret_cast<const float*>(t->data);
    const uint64_t n = t->NumElements();
    checked += n;
    if (e.type_name == "F32") {
      if (std::memcmp(e.data, t->data, n * 4) != 0) fail(e.name + " differs");
      continue;
    }
    if (e.type_name == "BF16") {
      for (uint64_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, e.data + 2 * i, 2);
        if (b != F32ToBf16(w[i])) fail(fmt::format("{}[{}] = bf16 {:#x}, want {:#x}", e.name, i, b, F32ToBf16(w[i])));
      }
      continue;
    }
    const uint64_t rows = e.shape[0], cols = e.shape[1], ncb = (cols + 127) / 128;
    const TensorEntry* s = f8->catalog.Find(e.name + "_scale_inv");
    ASSERT_NE(s, nullptr) << e.name;
    ASSERT_EQ(s->type_name, "F32");
    ASSERT_EQ(s->shape, (std::vector<uint64_t>{(rows + 127) / 128, ncb})) << e.name;
    ++scale_grids;
    const float* scales = reinterpret_cast<const float*>(s->data);
    for (uint64_t br = 0; br < s->shape[0]; ++br)
      for (uint64_t bc = 0; bc < ncb; ++bc) {
        float m = 0;
        for (uint64_t r = br * 128; r < std::min(rows, br * 128 + 128); ++r)
          for (uint64_t c = bc * 128; c < std::min(cols, bc * 128 + 128); ++c)
            m = std::max(m, std::fabs(w[r * cols + c]));
        const float sc = scales[br * ncb + bc];
        if (sc != m / 448.0f) fail(fmt::format("{} block ({}, {}): scale {} for block max {}", e.name, br, bc, sc, m));
        for (uint64_t r = br * 128; r < std::min(rows, br * 128 + 128); ++r)
          for (uint64_t c = bc * 128; c < std::min(cols, bc * 128 + 128); ++c) {
            const float x = w[r * cols + c];
            const uint8_t q = e.data[r * cols + c];
            if (q != F32ToF8E4M3(x / sc))
              fail(fmt::format("{}[{}, {}] = {:#x}, want {:#x}", e.name, r, c, q, F32ToF8E4M3(x / sc)));
            const double err = std::fabs(static_cast<double>(F8E4M3ToF32(q)) * sc - x);
            if (err > (std::fabs(x) / 16 + sc / 1024.0) * (1 + 1e-6))
              fail(fmt::format("{}[{}, {}]: {} stored as {}", e.name, r, c, x, F8E4M3ToF32(q) * sc));
          }
      }
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(scale_grids, 10u);
  EXPECT_GT(checked, 10000u);
  // Every scale grid belongs to an F8 weight.
  for (const TensorEntry& e : f8->catalog.entries()) {
    if (!e.name.ends_with("_scale_inv")) continue;
    const TensorEntry* w = f8->catalog.Find(e.name.substr(0, e.name.size() - 10));
    EXPECT_TRUE(w && w->type_name == "F8_E4M3") << e.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, SynthHfFp8,
                         ::testing::Values(std::pair{"deepseek-v3", "tiny"}, std::pair{"deepseek-v3", "small"},
                                           std::pair{"qwen3moe", "tiny"}, std::pair{"llama", "tiny"}),
                         [](const auto& info) {
                           std::string s = std::string(info.param.first) + "_" + info.param.second;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

// A sharded FP8 folder (tiny deepseek-v3, ~320 KB in shards of at most 60 KB): the index names
// every tensor of every shard, a shard holds at most the size asked unless it is a single
// tensor (with its scales) larger than that, tensors sit back to back from a multiple of 8,
// and the model loads.
//  - It computes exactly the dequantized model (moe convert to f32): the same float32
//    products of e4m3(q) * s with x, summed in another order: within 1e-5 of the largest logit.
//  - Against the f32 twin it differs by FP8 rounding. e4m3 keeps 3 mantissa bits: a weight
//    uniform within a binade [2^e, 2^(e+1)) is rounded to steps of 2^(e-3), a relative rms error
//    of sqrt(2^(2e-6) / 12 * E[1/w^2]) = 2^-3.5 / sqrt(12) = 0.0255. A matrix product over
//    independent errors inherits that relative error; a token passes 36 FP8 matrices (layer 0:
//    5 attention + 3 dense; layers 1-2: 5 attention + 2 routed experts x 3 + 3 shared) whose
//    errors add in quadrature: at most sqrt(36) * 0.0255 = 0.153 of the logits' rms (less, as
//    each branch adds only part of the residual stream). That first-order picture holds where
//    no router choice flips; routing is discontinuous, and where a perturbed score crosses the
//    k-th best (a third of these positions; bf16 rounding flips one too) one of the 2 routed
//    experts is swapped. So: the median position differs by at most 0.153 of its logits' rms,
//    no position by more than its logits' rms (a swap replaces part of one layer's output, not
//    the model), and the top token agrees at half the positions or more: at the 0.153 bound
//    two logits' differences spread 0.153 * sqrt(2) = 0.22 sigma against a gap between the top
//    two of 512 Gaussian logits near exponential with mean sigma / sqrt(2 ln 512) = 0.28 sigma,
//    which flips the top token at ~20% of unrouted-flip positions.
TEST_F(SynthHfTest, Fp8ShardedFolderLoadsAndComputes) {
  constexpr uint64_t kShard = 60'000;
  const std::string f8 = Folder("deepseek-v3", "tiny", DType::kF8E4M3, kShard);
  EXPECT_FALSE(fs::exists(f8 + "/model.safetensors"));
  auto index = ReadJsonFile(f8 + "/model.safetensors.index.json");
  ASSERT_TRUE(index.ok()) << index.status().message();
  std::set<std::string> files;
  for (auto& [name, file] : (*index)["weight_map"].items()) files.insert(file.get<std::string>());
  ASSERT_GE(files.size(), 4u);
  uint64_t total = 0;
  size_t i = 0, tensors = 0;
  for (const std::string& file : files) {
    EXPECT_EQ(file, fmt::format("model-{:05d}-of-{:05d}.safetensors", ++i, files.size()));
    auto st = OpenSafetensors(f8 + "/" + file);
    ASSERT_TRUE(st.ok()) << st.status().message();
    EXPECT_EQ(st->metadata.at("format"), "pt");
    uint64_t bytes = 0;
    for (const TensorEntry& e : st->tensors.entries()) {
      EXPECT_EQ((*index)["weight_map"].value(e.name, std::string()), file) << e.name;
      EXPECT_EQ(e.file_offset % SafetensorsDTypeSize(e.type_name), 0u) << e.name;
      bytes += e.nbytes;
      ++tensors;
    }
    size_t weights = 0;  // tensors other than scale grids
    for (const TensorEntry& e : st->tensors.entries()) weights += !e.name.ends_with("_scale_inv");
    if (weights > 1) {
      EXPECT_LE(bytes, kShard) << file;
    }
    EXPECT_EQ(st->data_offset % 8, 0u);
    EXPECT_EQ(st->data_offset + bytes, fs::file_size(f8 + "/" + file)) << file;  // no holes, nothing after
    total += bytes;
  }
  EXPECT_EQ(tensors, (*index)["weight_map"].size());
  EXPECT_EQ((*index)["metadata"]["total_size"], total);
  auto ck = OpenSafetensorsCheckpoint(f8, {});
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  EXPECT_EQ(ck->shards.size(), files.size());

  auto model = Load(f8);
  ASSERT_TRUE(model);
  EXPECT_TRUE(model->unused_tensors().empty()) << model->unused_tensors().front();
  const std::string deq = (dir_ / "dequantized.gguf").string();
  Status s = ConvertHfToGguf(f8, DType::kF32, deq);
  ASSERT_TRUE(s.ok()) << s.message();
  auto dequantized = Load(deq);
  auto twin = Load(Gguf("deepseek-v3", "tiny"));
  ASSERT_TRUE(dequantized && twin);
  const std::vector<float> l8 = Logits(*model), ld = Logits(*dequantized), l32 = Logits(*twin);
  ASSERT_TRUE(l8.size() == ld.size() && l8.size() == l32.size() && !l8.empty());
  const size_t V = static_cast<size_t>(twin->config().vocab_size), n = l32.size() / V;
  double max_exact = 0;
  for (size_t k = 0; k < l8.size(); ++k) max_exact = std::max(max_exact, std::fabs(double(l8[k]) - ld[k]));
  EXPECT_LE(max_exact, 1e-5 * MaxAbs(ld));
  std::vector<double> rel(n);  // per position: rms(fp8 - f32) / rms(f32)
  size_t agree = 0;
  for (size_t p = 0; p < n; ++p) {
    double sq = 0, sq32 = 0;
    for (size_t k = p * V; k < (p + 1) * V; ++k) {
      sq += (double(l8[k]) - l32[k]) * (double(l8[k]) - l32[k]);
      sq32 += double(l32[k]) * l32[k];
    }
    rel[p] = std::sqrt(sq / sq32);
    EXPECT_LE(rel[p], 1.0) << "position " << p;
    agree += std::max_element(l8.begin() + p * V, l8.begin() + (p + 1) * V) - l8.begin() ==
             std::max_element(l32.begin() + p * V, l32.begin() + (p + 1) * V) - l32.begin();
  }
  std::vector<double> sorted = rel;
  std::nth_element(sorted.begin(), sorted.begin() + n / 2, sorted.end());
  EXPECT_LE(sorted[n / 2], 0.153);
  EXPECT_GE(2 * agree, n) << agree << " of " << n;
  RecordProperty("fp8_median_rel", std::to_string(sorted[n / 2]));
  RecordProperty("fp8_top1", std::to_string(double(agree) / n));
}

// The tokenizer files tokenize as the GGUF's tokenizer.ggml.* do (ids with and without BOS and
// special-token parsing, BOS/EOS, end-of-generation ids, every id's type and decoded bytes),
// the pre-tokenizer is the one the GGUF names, and the chat template and generation_config.json
// ids are the GGUF's. The bench vocabulary (656 learned tokens, 31344 reserved fillers) is
// checked from the JSON the folder would hold.
TEST_F(SynthHfTest, TokenizerIsTheGgufs) {
  const std::vector<std::string> texts = {
      "Hello world, the quick brown fox jumps over the lazy dog.",
      "numbers 1234567 and 3.14, $100,000 and x1y22z333",
      "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<think>hmm</think>ok",
      "  two  spaces\tand tabs\r\n\n\nnew lines ",
      "你好世界 カタカナ ひらがな 한국어 αβγ ÀÉÎ 🚀",
      "__init__ foo.bar(baz) {\"a\": [1, 2]} I've been 'told he's there",
      "<|reserved_3|> <|pad|> <|begin_of_text|> tail <|reserved_31000|>"};
  for (const char* arch : {"llama", "qwen3moe", "deepseek-v3"})
    for (const char* preset : {"tiny", "bench"}) {
      SCOPED_TRACE(std::string(arch) + " " + preset);
      auto c = SynthConfig(arch, preset);
      ASSERT_TRUE(c.ok());
      const std::string gguf = (dir_ / (std::string(arch) + "-" + preset + "-vocab.gguf")).string();
      ASSERT_TRUE(SynthesizeModel({.arch = arch, .preset = preset, .type = DType::kBF16, .no_data = true}, gguf).ok());
      auto gg = GgufFile::Open(gguf);
      ASSERT_TRUE(gg.ok());
      auto gt = Tokenizer::FromGguf(*gg);
      ASSERT_TRUE(gt.ok());
      nlohmann::json tj, tc;
      std::string folder;
      if (std::string(preset) == "tiny") {
        folder = Folder(arch, preset, DType::kBF16);
        auto j = ReadJsonFile(folder + "/tokenizer.json"), k = ReadJsonFile(folder + "/tokenizer_config.json");
        ASSERT_TRUE(j.ok() && k.ok());
        tj = *j;
        tc = *k;
      } else {
        const SynthVocab v = BuildSynthVocab(static_cast<size_t>(c->vocab_size));
        tj = nlohmann::json::parse(SynthHfTokenizerJson(*c, v).dump());
        tc = nlohmann::json::parse(SynthHfTokenizerConfigJson(*c, v).dump());
      }
      EXPECT_EQ(tj["model"]["vocab"].size(), static_cast<size_t>(c->vocab_size));  // no two tokens alike
      auto ht = Tokenizer::FromHfJson(tj, &tc);
      ASSERT_TRUE(ht.ok()) << ht.status().message();
      const Tokenizer &g = **gt, &h = **ht;
      EXPECT_TRUE(h.warnings().empty()) << h.warnings().front();
      ASSERT_EQ(h.vocab_size(), g.vocab_size());
      EXPECT_EQ(h.bos_id(), g.bos_id());
      EXPECT_EQ(h.eos_id(), g.eos_id());
      EXPECT_EQ(h.add_bos(), g.add_bos());
      EXPECT_EQ(h.add_eos(), g.add_eos());
      EXPECT_EQ(h.EogIds(), g.EogIds());
      size_t differing = 0;
      for (int32_t id = 0; id < static_cast<int32_t>(g.vocab_size()); ++id)
        if ((h.token_type(id) != g.token_type(id) || h.TokenBytes(id) != g.TokenBytes(id)) && ++differing <= 3)
          ADD_FAILURE() << "token " << id << " '" << h.TokenPiece(id) << "' vs '" << g.TokenPiece(id) << "'";
      for (const std::string& t : texts)
        for (bool special : {false, true})
          EXPECT_EQ(h.Encode(t, special, special), g.Encode(t, special, special)) << t << " special " << special;
      auto pre = Tokenizer::GgufPreName(tj, GgufTokenizerPre(*c));
      ASSERT_TRUE(pre.ok()) << pre.status().message();
      EXPECT_EQ(*pre, GgufTokenizerPre(*c));
      if (folder.empty()) continue;
      EXPECT_EQ(HfChatTemplate(folder), kChatMlTemplate);
      auto hf = LoadHfFolder(folder);
      ASSERT_TRUE(hf.ok());
      EXPECT_EQ(hf->generation.eos_token_ids, std::vector<int64_t>{g.eos_id()});
      EXPECT_EQ(hf->generation.bos_token_id, g.bos_id());
    }
}

// What cannot be written is refused with a message naming the fix; a rerun with fewer shards
// leaves no stale shard or index behind.
TEST_F(SynthHfTest, ErrorsAndRewrites) {
  const std::string out = (dir_ / "x").string();
  Status s = SynthesizeHfFolder({.arch = "qwen3moe", .type = DType::kQ8_0}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--type q8_0 is GGUF-only"), std::string::npos) << s.message();
  s = SynthesizeModel({.arch = "qwen3moe", .type = DType::kF8E4M3}, out + ".gguf");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--format hf"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(out + ".gguf"));
  s = SynthesizeHfFolder({.arch = "gpt5"}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("gpt5"), std::string::npos) << s.message();
  std::ofstream(dir_ / "file") << "x";
  s = SynthesizeHfFolder({.arch = "llama"}, (dir_ / "file").string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a directory"), std::string::npos) << s.message();

  auto model_files = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(out))
      if (e.path().filename().string().starts_with("model")) names.insert(e.path().filename().string());
    return names;
  };
  const SynthOptions sharded{.arch = "qwen3moe", .type = DType::kBF16, .shard_bytes = 50'000};
  ASSERT_TRUE(SynthesizeHfFolder(sharded, out).ok());
  ASSERT_GT(model_files().size(), 3u);
  EXPECT_TRUE(model_files().count("model.safetensors.index.json"));
  ASSERT_TRUE(SynthesizeHfFolder({.arch = "qwen3moe", .type = DType::kBF16}, out).ok());
  EXPECT_EQ(model_files(), std::set<std::string>{"model.safetensors"});
  ASSERT_TRUE(SynthesizeHfFolder(sharded, out).ok());
  EXPECT_FALSE(model_files().count("model.safetensors"));
  EXPECT_TRUE(Model::Load(out, {}).ok());
}

}  // namespace
}  // namespace moe
