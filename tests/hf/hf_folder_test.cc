// Hugging Face folders: every conformance folder loads and matches its GGUF twin (config
// fields, tensor names and shapes as the binders need them, weight values), the FP8 folder
// binds with its block scales (F32, BF16 or F16), sharded folders (index.json) load the same
// catalog, MTP layers are skipped with a note, and broken folders / config.json files give
// clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/hf_folder.h"
#include "io/safetensors.h"
#include "model/hf_config.h"
#include "model/hf_tensor_names.h"
#include "model/convert.h"
#include "model/eval.h"
#include "model/model.h"
#include "model/synth.h"

namespace moe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Conf(const std::string& c) { return std::string(MOE_TEST_DATA) + "/conformance/" + c; }

std::vector<float> ToFloat(const TensorEntry& e, uint64_t offset_bytes, uint64_t n) {
  std::vector<float> v(n);
  DequantizeRow(*e.dtype, e.data + offset_bytes, n, v.data());
  return v;
}

void ExpectConfigEq(const ModelConfig& hf, const ModelConfig& gg, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(hf.architecture, gg.architecture);
  EXPECT_EQ(hf.vocab_size, gg.vocab_size);
  EXPECT_EQ(hf.hidden_size, gg.hidden_size);
  EXPECT_EQ(hf.intermediate_size, gg.intermediate_size);
  EXPECT_EQ(hf.num_hidden_layers, gg.num_hidden_layers);
  EXPECT_EQ(hf.num_attention_heads, gg.num_attention_heads);
  EXPECT_EQ(hf.num_key_value_heads, gg.num_key_value_heads);
  EXPECT_EQ(hf.head_dim, gg.head_dim);
  EXPECT_EQ(hf.max_position_embeddings, gg.max_position_embeddings);
  // GGUF stores floats as f32: compare to f32 precision.
  auto near = [](double a, double b) { return std::fabs(a - b) <= 1e-6 * std::max(std::fabs(a), std::fabs(b)); };
  EXPECT_TRUE(near(hf.rms_norm_eps, gg.rms_norm_eps)) << hf.rms_norm_eps << " vs " << gg.rms_norm_eps;
  EXPECT_TRUE(near(hf.rope_theta, gg.rope_theta));
  EXPECT_EQ(hf.rope_dim, gg.rope_dim);
  if (hf.architecture == "llama") EXPECT_TRUE(hf.rope_halves);  // GGUF permutes q/k, HF does not
  else EXPECT_EQ(hf.rope_halves, gg.rope_halves);
  EXPECT_EQ(hf.qk_norm, gg.qk_norm);
  EXPECT_EQ(hf.rope_scaling.type, gg.rope_scaling.type);
  EXPECT_TRUE(near(hf.rope_scaling.factor, gg.rope_scaling.factor));
  EXPECT_EQ(hf.rope_scaling.original_max_position_embeddings, gg.rope_scaling.original_max_position_embeddings);
  EXPECT_TRUE(near(hf.rope_scaling.beta_fast, gg.rope_scaling.beta_fast));
  EXPECT_TRUE(near(hf.rope_scaling.beta_slow, gg.rope_scaling.beta_slow));
  EXPECT_TRUE(near(hf.rope_scaling.mscale, gg.rope_scaling.mscale));
  EXPECT_TRUE(near(hf.rope_scaling.mscale_all_dim, gg.rope_scaling.mscale_all_dim));
  EXPECT_EQ(hf.num_experts, gg.num_experts);
  EXPECT_EQ(hf.num_experts_per_tok, gg.num_experts_per_tok);
  EXPECT_EQ(hf.moe_intermediate_size, gg.moe_intermediate_size);
  EXPECT_EQ(hf.n_shared_experts, gg.n_shared_experts);
  EXPECT_EQ(hf.first_k_dense_replace, gg.first_k_dense_replace);
  EXPECT_EQ(hf.n_group, gg.n_group);
  EXPECT_EQ(hf.topk_group, gg.topk_group);
  EXPECT_EQ(hf.norm_topk_prob, gg.norm_topk_prob);
  EXPECT_TRUE(near(hf.routed_scaling_factor, gg.routed_scaling_factor));
  EXPECT_EQ(hf.scoring_func, gg.scoring_func);
  EXPECT_EQ(hf.q_lora_rank, gg.q_lora_rank);
  EXPECT_EQ(hf.kv_lora_rank, gg.kv_lora_rank);
  EXPECT_EQ(hf.qk_nope_head_dim, gg.qk_nope_head_dim);
  EXPECT_EQ(hf.qk_rope_head_dim, gg.qk_rope_head_dim);
  EXPECT_EQ(hf.v_head_dim, gg.v_head_dim);
}

// llama.cpp's convert permutes q/k rows per head so RoPE rotates adjacent pairs:
// gguf row h·D + 2j + k holds hf row h·D + k·D/2 + j (j < D/2, k ∈ {0, 1}).
void ExpectPermutedRows(const TensorEntry& hf, const TensorEntry& gg, int64_t head_dim) {
  const uint64_t rows = hf.shape[0], cols = hf.shape[1], D = static_cast<uint64_t>(head_dim);
  const uint64_t rb = cols * 4;
  for (uint64_t r = 0; r < rows; ++r) {
    uint64_t h = r / D, j = (r % D) / 2, k = r % 2;
    uint64_t hr = h * D + k * (D / 2) + j;
    EXPECT_EQ(std::memcmp(gg.data + r * rb, hf.data + hr * rb, rb), 0) << gg.name << " row " << r;
  }
}

class Twins : public ::testing::TestWithParam<const char*> {};

TEST_P(Twins, MatchGguf) {
  const std::string c = GetParam();
  auto hf = LoadHfFolder(Conf(c) + "/hf");
  ASSERT_TRUE(hf.ok()) << hf.status().message();
  auto gg = GgufFile::Open(Conf(c) + "/model.gguf");
  ASSERT_TRUE(gg.ok()) << gg.status().message();
  const Family* fam = FindFamily(hf->config.architecture);
  ASSERT_TRUE(fam);
  auto gcfg = fam->parse(*gg);
  ASSERT_TRUE(gcfg.ok()) << gcfg.status().message();
  ExpectConfigEq(hf->config, *gcfg, c);
  EXPECT_TRUE(hf->notes.empty()) << hf->notes.front();
  EXPECT_EQ(hf->generation.eos_token_ids, std::vector<int64_t>{347});
  EXPECT_EQ(hf->generation.bos_token_id, 346);

  const TensorCatalog& h = hf->catalog;
  size_t compared = 0;
  for (const TensorEntry& g : gg->tensors().entries()) {
    SCOPED_TRACE(g.name);
    const bool stacked = g.shape.size() == 3 && g.name.find("_exps.weight") != std::string::npos;
    if (!stacked) {
      const TensorEntry* e = h.Find(g.name);
      ASSERT_TRUE(e) << "missing in HF catalog";
      EXPECT_EQ(e->shape, g.shape);
      ASSERT_TRUE(e->dtype && g.dtype);
      const bool permuted = c == "llama-f32" && (g.name.find("attn_q.") != std::string::npos ||
                                                 g.name.find("attn_k.") != std::string::npos);
      if (permuted) {
        ExpectPermutedRows(*e, g, hf->config.head_dim);
      } else {
        EXPECT_EQ(ToFloat(*e, 0, e->NumElements()), ToFloat(g, 0, g.NumElements()));
      }
      ++compared;
      continue;
    }
    const std::string stem = g.name.substr(0, g.name.rfind(".weight"));
    const uint64_t per = g.shape[1] * g.shape[2];
    for (uint64_t x = 0; x < g.shape[0]; ++x) {
      const TensorEntry* e = h.Find(fmt::format("{}.{}.weight", stem, x));
      ASSERT_TRUE(e) << "expert " << x << " missing";
      EXPECT_EQ(e->shape, (std::vector<uint64_t>{g.shape[1], g.shape[2]}));
      EXPECT_EQ(ToFloat(*e, 0, per), ToFloat(g, x * g.nbytes / g.shape[0], per)) << "expert " << x;
      ++compared;
    }
  }
  EXPECT_EQ(compared, h.entries().size()) << "HF folder has tensors the GGUF twin lacks";

  // The family binds the HF catalog as it is.
  Binder binder(h, hf->dir);
  ModelWeights w;
  ASSERT_TRUE(fam->bind(hf->config, binder, &w).ok());
  EXPECT_TRUE(binder.Unused().empty());
}

INSTANTIATE_TEST_SUITE_P(Conformance, Twins,
                         ::testing::Values("llama-f32", "qwen3moe-f32", "qwen3moe-bf16", "deepseek2-f32",
                                           "deepseek2-bf16", "deepseek2-yarn-f32"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (ch == '-') ch = '_';
                           return s;
                         });

TEST(HfFolder, Fp8BindsWithBlockScales) {
  auto hf = LoadHfFolder(Conf("deepseek2-fp8") + "/hf");
  ASSERT_TRUE(hf.ok()) << hf.status().message();
  EXPECT_TRUE(hf->catalog.Contains("blk.0.attn_q_a.weight_scale_inv"));
  EXPECT_TRUE(hf->catalog.Contains("blk.1.ffn_gate_exps.3.weight_scale_inv"));
  ASSERT_FALSE(hf->notes.empty());
  EXPECT_NE(hf->notes.back().find("fp8"), std::string::npos);
  Binder binder(hf->catalog, hf->dir);
  ModelWeights w;
  Status s = FindFamily("deepseek2")->bind(hf->config, binder, &w);
  ASSERT_TRUE(s.ok()) << s.message();
  // q_a: [q_lora_rank = 96, hidden = 96] -> one block; kv_b rows 4 x (32 + 40) = 288 -> 3 block rows.
  const MlaWeights& mla = *w.layers[0].mla;
  EXPECT_EQ(mla.q_a->dtype, DType::kF8E4M3);
  EXPECT_NE(mla.q_a->scales, nullptr);
  EXPECT_EQ(mla.kv_b.scale_stride, 1u);
  EXPECT_EQ(mla.kv_b.RowSlice(200, 40).RowScales(0), mla.kv_b.scales + 1);
  const ExpertStack& up = w.layers[1].moe->up;
  EXPECT_EQ(up.first.dtype, DType::kF8E4M3);
  ASSERT_EQ(up.scales.size(), up.n_expert);
  EXPECT_EQ(up.Expert(3).scales, reinterpret_cast<const float*>(
                                     hf->catalog.Find("blk.1.ffn_up_exps.3.weight_scale_inv")->data));
  EXPECT_EQ(w.token_embd.dtype, DType::kBF16);
  // Every scale tensor was bound with its weight.
  for (const std::string& n : binder.Unused()) EXPECT_EQ(n.find("scale_inv"), std::string::npos) << n;
}

// Binder errors for FP8 tensors built in memory: a missing, misshapen or mistyped scale grid.
TEST(HfFolder, Fp8BinderErrors) {
  std::vector<uint8_t> w8(200 * 300, 0x38);
  std::vector<float> scales(2 * 3, 1.0f);
  auto entry = [](std::string name, DType dt, std::string type, std::vector<uint64_t> shape, const void* data) {
    TensorEntry e;
    e.name = std::move(name);
    e.dtype = dt;
    e.type_name = std::move(type);
    e.shape = std::move(shape);
    e.data = static_cast<const uint8_t*>(data);
    return e;
  };
  struct Case {
    std::vector<TensorEntry> extra;
    std::vector<std::string> want;  // substrings of the message
  };
  std::vector<Case> cases = {
      {{}, {"x.weight_scale_inv", "missing", "[2, 3]"}},
      {{entry("x.weight_scale_inv", DType::kF32, "F32", {2, 2}, scales.data())}, {"has shape [2, 2]", "expected [2, 3]"}},
      {{entry("x.weight_scale_inv", DType::kF32, "F32", {3, 2}, scales.data())}, {"has shape [3, 2]", "expected [2, 3]"}},
      {{entry("x.weight_scale_inv", DType::kF8E4M3, "F8_E4M3", {2, 3}, w8.data())},
       {"'x.weight_scale_inv' has type F8_E4M3", "expected F32, BF16 or F16"}},
      {{entry("x.weight_scale_inv", DType::kBF16, "BF16", {3, 3}, w8.data())}, {"has shape [3, 3]", "expected [2, 3]"}},
  };
  for (const Case& c : cases) {
    TensorCatalog cat;
    cat.Add(entry("x.weight", DType::kF8E4M3, "F8_E4M3", {200, 300}, w8.data()));
    for (const TensorEntry& e : c.extra) cat.Add(e);
    Binder b(cat, "model.safetensors");
    auto m = b.Matrix("x.weight", 200, 300, "test");
    ASSERT_FALSE(m.ok());
    for (const std::string& want : c.want) EXPECT_NE(m.status().message().find(want), std::string::npos) << m.status().message();
    EXPECT_EQ(m.status().message().find('\n'), std::string::npos);
  }
  TensorCatalog cat;
  cat.Add(entry("x.weight", DType::kF8E4M3, "F8_E4M3", {200, 300}, w8.data()));
  cat.Add(entry("x.weight_scale_inv", DType::kF32, "F32", {2, 3}, scales.data()));
  cat.Add(entry("v.weight", DType::kF8E4M3, "F8_E4M3", {300}, w8.data()));
  Binder b(cat, "model.safetensors");
  auto m = b.Matrix("x.weight", 200, 300, "test");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->scales, scales.data());
  EXPECT_EQ(m->scale_stride, 3u);
  // BF16 and F16 grids bind as float32 copies owned by the binder (then by the model).
  for (DType dt : {DType::kBF16, DType::kF16}) {
    const std::vector<float> want = {0.5f, 0.25f, 1.5f, 0.125f, 3.0f, 0.0009765625f};  // exact in bf16 and f16
    std::vector<uint16_t> half(want.size());
    QuantizeRow(dt, want.data(), want.size(), half.data());
    TensorCatalog hc;
    hc.Add(entry("x.weight", DType::kF8E4M3, "F8_E4M3", {200, 300}, w8.data()));
    hc.Add(entry("x.weight_scale_inv", dt, std::string(DTypeName(dt)), {2, 3}, half.data()));
    Binder hb(hc, "model.safetensors");
    auto hm = hb.Matrix("x.weight", 200, 300, "test");
    ASSERT_TRUE(hm.ok()) << hm.status().message();
    EXPECT_EQ(std::vector<float>(hm->scales, hm->scales + 6), want) << DTypeName(dt);
    EXPECT_TRUE(hb.Unused().empty());
    auto owned = hb.TakeWidenedScales();
    ASSERT_EQ(owned.size(), 1u);
    EXPECT_EQ(owned[0].get(), hm->scales);
  }
  auto v = b.Vector("v.weight", 300, "test");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("'v.weight' is F8_E4M3"), std::string::npos) << v.status().message();
}

// ---- folders built in the test ----

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / fmt::format("moe_hf_test_{}_{}", ::getpid(), counter++);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Path(const std::string& f = "") const { return (path_ / f).string(); }

 private:
  fs::path path_;
};

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Writes `entries` (their bytes, under `names`) as one safetensors file.
void WriteSafetensors(const std::string& path, const std::vector<const TensorEntry*>& entries,
                      const std::vector<std::string>& names) {
  json h = json::object();
  uint64_t off = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    h[names[i]] = {{"dtype", entries[i]->type_name}, {"shape", entries[i]->shape},
                   {"data_offsets", {off, off + entries[i]->nbytes}}};
    off += entries[i]->nbytes;
  }
  std::string text = h.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // pad as the safetensors library does: data 8-aligned
  uint64_t n = text.size();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << text;
  for (const TensorEntry* e : entries) f.write(reinterpret_cast<const char*>(e->data), static_cast<long>(e->nbytes));
}

// Splits a conformance folder into two shards plus an index, with `extra` tensors (name,
// copied from an existing entry) in the second shard.
void ShardFolder(const std::string& src, const TempDir& dst, const std::vector<std::pair<std::string, std::string>>& extra = {},
                 const std::function<void(json&)>& edit_index = {}) {
  fs::copy_file(src + "/config.json", dst.Path("config.json"), fs::copy_options::overwrite_existing);
  auto st = OpenSafetensors(src + "/model.safetensors");
  ASSERT_TRUE(st.ok());
  const auto& all = st->tensors.entries();
  std::vector<const TensorEntry*> a, b;
  std::vector<std::string> an, bn;
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
  for (size_t i = 0; i < all.size(); ++i) {
    bool first = i < all.size() / 2;
    (first ? a : b).push_back(&all[i]);
    (first ? an : bn).push_back(all[i].name);
    index["weight_map"][all[i].name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  for (const auto& [name, from] : extra) {
    b.push_back(st->tensors.Find(from));
    bn.push_back(name);
    index["weight_map"][name] = "model-00002-of-00002.safetensors";
  }
  WriteSafetensors(dst.Path("model-00001-of-00002.safetensors"), a, an);
  WriteSafetensors(dst.Path("model-00002-of-00002.safetensors"), b, bn);
  if (edit_index) edit_index(index);
  WriteText(dst.Path("model.safetensors.index.json"), index.dump(1));
}

// quantization_config other than DeepSeek-V3's fp8 layout is refused with the field named.
TEST(HfFolder, Fp8QuantizationConfigChecked) {
  const std::string src = Conf("deepseek2-fp8") + "/hf";
  struct Case {
    json q;
    const char* want;
  };
  const Case cases[] = {
      {{{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"weight_block_size", {64, 64}}}, "weight_block_size is [64,64], expected [128, 128]"},
      {{{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"weight_block_size", {128}}}, "weight_block_size is [128], expected"},
      {{{"quant_method", "fp8"}, {"fmt", "e4m3"}}, "no weight_block_size"},
      {{{"quant_method", "fp8"}, {"fmt", "e5m2"}, {"weight_block_size", {128, 128}}}, "fmt is \"e5m2\""},
      {{{"quant_method", "fp8"}, {"weight_block_size", {128, 128}}, {"activation_scheme", "static"}}, "activation_scheme is \"static\""},
  };
  for (const Case& c : cases) {
    TempDir d;
    for (const char* f : {"model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"})
      fs::copy_file(src + "/" + f, d.Path(f));
    std::ifstream in(src + "/config.json");
    json cfg = json::parse(in);
    cfg["quantization_config"] = c.q;
    WriteText(d.Path("config.json"), cfg.dump());
    auto hf = LoadHfFolder(d.Path());
    ASSERT_FALSE(hf.ok()) << c.want;
    EXPECT_NE(hf.status().message().find(c.want), std::string::npos) << hf.status().message();
    EXPECT_NE(hf.status().message().find("config.json"), std::string::npos) << hf.status().message();
  }
}

TEST(HfFolder, ShardedEqualsSingleFile) {
  TempDir d;
  ShardFolder(Conf("qwen3moe-bf16") + "/hf", d);
  auto one = LoadHfFolder(Conf("qwen3moe-bf16") + "/hf");
  auto sharded = LoadHfFolder(d.Path(), LoadOptions{.progress = true});
  ASSERT_TRUE(one.ok() && sharded.ok()) << sharded.status().message();
  ASSERT_EQ(one->catalog.entries().size(), sharded->catalog.entries().size());
  for (const TensorEntry& e : one->catalog.entries()) {
    const TensorEntry* s = sharded->catalog.Find(e.name);
    ASSERT_TRUE(s) << e.name;
    EXPECT_EQ(s->shape, e.shape);
    EXPECT_EQ(s->dtype, e.dtype);
    EXPECT_EQ(std::memcmp(s->data, e.data, e.nbytes), 0) << e.name;
  }
  // No generation_config.json in the sharded copy: the ids come from config.json.
  EXPECT_EQ(sharded->generation.eos_token_ids, std::vector<int64_t>{347});
}

TEST(HfFolder, ShardErrors) {
  const std::string src = Conf("llama-f32") + "/hf";
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"missing shard", [](json& j) { j["weight_map"]["lm_head.weight"] = "model-00003-of-00003.safetensors"; },
       "shard 'model-00003-of-00003.safetensors'"},
      {"path traversal", [](json& j) { j["weight_map"]["lm_head.weight"] = "../model.safetensors"; },
       "must name a shard file"},
      {"listed but absent", [](json& j) { j["weight_map"]["model.extra.weight"] = "model-00001-of-00002.safetensors"; },
       "no such tensor"},
      {"no weight_map", [](json& j) { j.erase("weight_map"); }, "weight_map"},
      {"weight_map not strings", [](json& j) { j["weight_map"]["lm_head.weight"] = 3; }, "must name a shard file"},
  };
  for (auto& c : cases) {
    TempDir d;
    ShardFolder(src, d, {}, c.edit);
    auto r = LoadHfFolder(d.Path());
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << c.what << ": " << r.status().message();
  }
  {
    TempDir d;  // the same tensor in both shards
    ShardFolder(src, d, {{"model.embed_tokens.weight", "model.norm.weight"}});
    auto r = LoadHfFolder(d.Path());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("is in both"), std::string::npos) << r.status().message();
  }
  {
    TempDir d;  // no weights at all
    fs::copy_file(src + "/config.json", d.Path("config.json"));
    auto r = LoadHfFolder(d.Path());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("no model.safetensors"), std::string::npos) << r.status().message();
  }
}

// Some FP8 checkpoints ship BF16 (or F16) weight_scale_inv tensors. The kit's fp8 folder with
// its scales rounded to bf16 — values f32, bf16 and f16 all hold exactly (the kit's scales lie
// in [5.7e-4, 2.2e-3], inside f16's normal range) — is written with F32, BF16 and F16 scale
// tensors: the three give bitwise-equal logits and convert to byte-identical GGUF files.
TEST(HfFolder, Fp8Bf16AndF16ScalesEqualF32) {
  const std::string src = Conf("deepseek2-fp8") + "/hf";
  auto st = OpenSafetensors(src + "/model.safetensors");
  ASSERT_TRUE(st.ok()) << st.status().message();
  const std::vector<int32_t> tokens = {346, 17, 262, 5, 300, 88, 120, 41};
  std::vector<float> logits[3];
  std::string gguf[3];
  const DType types[3] = {DType::kF32, DType::kBF16, DType::kF16};
  for (int v = 0; v < 3; ++v) {
    SCOPED_TRACE(DTypeName(types[v]));
    TempDir t;
    const std::string dir = t.Path("fp8");  // one folder name: it becomes general.name in the GGUF
    fs::create_directories(dir);
    for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"})
      fs::copy_file(src + "/" + f, dir + "/" + f);
    std::vector<TensorEntry> copies;
    std::vector<std::vector<uint8_t>> bytes;
    copies.reserve(st->tensors.entries().size());
    bytes.reserve(st->tensors.entries().size());
    for (const TensorEntry& e : st->tensors.entries()) {
      TensorEntry c = e;
      if (e.name.ends_with("_scale_inv")) {
        ASSERT_EQ(e.dtype, DType::kF32) << e.name;
        const size_t n = e.NumElements();
        std::vector<float> f(n);
        DequantizeRow(DType::kF32, e.data, n, f.data());
        for (float& x : f) {
          x = Bf16ToF32(F32ToBf16(x));
          ASSERT_TRUE(x >= 0x1p-14f && x <= 65504.0f) << e.name << " " << x;  // f16 normal: exact
        }
        std::vector<uint8_t>& b = bytes.emplace_back(RowBytes(types[v], n));
        QuantizeRow(types[v], f.data(), n, b.data());
        c.dtype = types[v];
        c.type_name = v == 0 ? "F32" : v == 1 ? "BF16" : "F16";
        c.data = b.data();
        c.nbytes = b.size();
      }
      copies.push_back(std::move(c));
    }
    std::vector<const TensorEntry*> ptrs;
    std::vector<std::string> names;
    for (const TensorEntry& c : copies) {
      ptrs.push_back(&c);
      names.push_back(c.name);
    }
    WriteSafetensors(dir + "/model.safetensors", ptrs, names);
    auto m = Model::Load(dir, {});
    ASSERT_TRUE(m.ok()) << m.status().message();
    ThreadPool pool(1);
    auto l = EvalLogits(**m, tokens, pool);
    ASSERT_TRUE(l.ok()) << l.status().message();
    logits[v] = std::move(*l);
    const std::string out = t.Path("out.gguf");
    Status s = ConvertHfToGguf(dir, DType::kF32, out);
    ASSERT_TRUE(s.ok()) << s.message();
    std::ifstream in(out, std::ios::binary);
    gguf[v].assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_EQ(logits[0].size(), tokens.size() * 384);
  for (int v = 1; v < 3; ++v) {
    EXPECT_EQ(logits[v], logits[0]) << DTypeName(types[v]);
    EXPECT_TRUE(gguf[v] == gguf[0]) << DTypeName(types[v]);
  }
}

// DeepSeek-V3 folders carry num_nextn_predict_layers multi-token-prediction layers after the
// decoder (layer 61 of 61): a whole layer plus enorm, hnorm, eh_proj, shared_head and their own
// embed_tokens. They are recognized, dropped from the catalog with a note (which `moe info`
// prints), and the model loads and runs without them.
TEST(HfFolder, MtpLayersSkippedWithNote) {
  const std::string src = Conf("deepseek2-f32") + "/hf";
  const std::vector<std::pair<std::string, std::string>> mtp = {
      {"model.layers.3.eh_proj.weight", "model.layers.0.self_attn.q_a_proj.weight"},
      {"model.layers.3.enorm.weight", "model.norm.weight"},
      {"model.layers.3.hnorm.weight", "model.norm.weight"},
      {"model.layers.3.embed_tokens.weight", "model.embed_tokens.weight"},
      {"model.layers.3.shared_head.norm.weight", "model.norm.weight"},
      {"model.layers.3.shared_head.head.weight", "lm_head.weight"},
      {"model.layers.3.self_attn.q_a_proj.weight", "model.layers.0.self_attn.q_a_proj.weight"},
      {"model.layers.3.mlp.experts.0.up_proj.weight", "model.layers.1.mlp.experts.0.up_proj.weight"}};
  TempDir d;
  ShardFolder(src, d, mtp);
  auto r = LoadHfFolder(d.Path());
  ASSERT_FALSE(r.ok());  // num_nextn_predict_layers = 0 in the conformance config
  EXPECT_NE(r.status().message().find("belongs to layer 3"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("num_nextn_predict_layers = 0"), std::string::npos) << r.status().message();

  auto cfg = ReadJsonFile(src + "/config.json");
  ASSERT_TRUE(cfg.ok());
  (*cfg)["num_nextn_predict_layers"] = 1;
  WriteText(d.Path("config.json"), cfg->dump());
  auto ok = LoadHfFolder(d.Path());
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->notes.size(), 1u);
  EXPECT_NE(ok->notes[0].find("skipped 8 tensors of multi-token-prediction layer 3"), std::string::npos)
      << ok->notes[0];
  for (const TensorEntry& e : ok->catalog.entries()) EXPECT_NE(e.name.rfind("blk.3.", 0), 0u) << e.name;

  auto m = Model::Load(d.Path(), {});
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->config().num_hidden_layers, 3);
  EXPECT_EQ((*m)->notes(), ok->notes);
  EXPECT_TRUE((*m)->unused_tensors().empty()) << (*m)->unused_tensors().front();
  auto plain = Model::Load(src, {});
  ASSERT_TRUE(plain.ok());
  ThreadPool pool(1);
  auto a = EvalLogits(**m, std::vector<int32_t>{346, 17, 262}, pool);
  auto b = EvalLogits(**plain, std::vector<int32_t>{346, 17, 262}, pool);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(HfFolder, UnknownTensorsKeptWithNote) {
  TempDir d;
  ShardFolder(Conf("llama-f32") + "/hf", d,
              {{"model.layers.0.self_attn.rotary_emb.inv_freq", "model.norm.weight"},
               {"model.layers.1.mlp.frobnicate.weight", "model.norm.weight"}});
  auto r = LoadHfFolder(d.Path());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->catalog.Contains("model.layers.1.mlp.frobnicate.weight"));
  EXPECT_FALSE(r->catalog.Contains("model.layers.0.self_attn.rotary_emb.inv_freq"));
  ASSERT_EQ(r->notes.size(), 2u);
}

TEST(HfFolder, Llama3RopeScalingBecomesRopeFreqs) {
  TempDir d;
  ShardFolder(Conf("llama-f32") + "/hf", d);
  auto cfg = ReadJsonFile(Conf("llama-f32") + "/hf/config.json");
  ASSERT_TRUE(cfg.ok());
  (*cfg)["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  WriteText(d.Path("config.json"), cfg->dump());
  auto r = LoadHfFolder(d.Path());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.rope_scaling.type, "");
  const TensorEntry* e = r->catalog.Find("rope_freqs.weight");
  ASSERT_TRUE(e);
  // transformers' _compute_llama3_parameters for head_dim 16, rope_theta 1e4 (in Python).
  const std::vector<float> want = {1, 1, 1, 1, 1, 1, 4.681482597220152f, 8};
  EXPECT_EQ(ToFloat(*e, 0, e->NumElements()), want);
  Binder binder(r->catalog, r->dir);
  ModelWeights w;
  ASSERT_TRUE(FindFamily("llama")->bind(r->config, binder, &w).ok());
  EXPECT_EQ(w.rope_freq_factors, want);
}

TEST(HfNames, EveryFamily) {
  struct Case {
    const char* arch;
    const char* hf;
    const char* gguf;  // "" = not recognized
  };
  const Case cases[] = {
      {"llama", "model.embed_tokens.weight", "token_embd.weight"},
      {"llama", "lm_head.weight", "output.weight"},
      {"llama", "model.norm.weight", "output_norm.weight"},
      {"llama", "model.layers.12.self_attn.o_proj.weight", "blk.12.attn_output.weight"},
      {"llama", "model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight"},
      {"llama", "model.layers.0.self_attn.q_norm.weight", ""},  // not a llama tensor
      {"qwen3", "model.layers.3.self_attn.k_norm.weight", "blk.3.attn_k_norm.weight"},
      {"qwen3", "model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight"},
      {"qwen3moe", "model.layers.2.mlp.gate.weight", "blk.2.ffn_gate_inp.weight"},
      {"qwen3moe", "model.layers.2.mlp.experts.127.down_proj.weight", "blk.2.ffn_down_exps.127.weight"},
      {"qwen3moe", "model.layers.2.mlp.gate_proj.weight", ""},
      {"deepseek2", "model.layers.5.self_attn.q_proj.weight", "blk.5.attn_q.weight"},
      {"deepseek2", "model.layers.5.self_attn.kv_a_proj_with_mqa.weight", "blk.5.attn_kv_a_mqa.weight"},
      {"deepseek2", "model.layers.5.mlp.gate.e_score_correction_bias", "blk.5.exp_probs_b.bias"},
      {"deepseek2", "model.layers.5.mlp.shared_experts.up_proj.weight_scale_inv", "blk.5.ffn_up_shexp.weight_scale_inv"},
      {"deepseek2", "model.layers.5.mlp.experts.0.gate_proj.weight", "blk.5.ffn_gate_exps.0.weight"},
      {"deepseek2", "model.layers.05.mlp.gate_proj.weight", ""},     // leading zero
      {"deepseek2", "model.layers.5.mlp.experts.x.gate_proj.weight", ""},
      {"deepseek2", "model.layers.5.mlp.gate_proj.weight.extra", ""},
      {"deepseek2", "model.layers..mlp.gate_proj.weight", ""},
      {"deepseek2", "model.layers.99999999.mlp.gate_proj.weight", ""},  // index too long
      {"mixtral", "model.layers.0.mlp.gate_proj.weight", ""},
  };
  for (const Case& c : cases) {
    HfNameMatch m = MapHfTensorName(c.arch, c.hf);
    if (*c.gguf) {
      EXPECT_EQ(m.kind, HfNameMatch::Kind::kMapped) << c.hf;
      EXPECT_EQ(m.gguf, c.gguf);
    } else {
      EXPECT_EQ(m.kind, HfNameMatch::Kind::kUnknown) << c.hf << " -> " << m.gguf;
    }
  }
  EXPECT_EQ(MapHfTensorName("llama", "model.layers.1.self_attn.rotary_emb.inv_freq").kind,
            HfNameMatch::Kind::kIgnored);
  EXPECT_EQ(MapHfTensorName("deepseek2", "model.layers.61.eh_proj.weight").layer, 61);
}

// GgufToHfTensorName inverts MapHfTensorName: every tensor name of the kit's folders maps to a
// binder name and back to itself, and every binder name of the synth models (experts one by
// one) maps to a Hugging Face name and back; names no rule produces have no inverse.
TEST(HfNames, InverseOfEveryRule) {
  size_t checked = 0;
  for (const char* kase : {"llama-f32", "qwen3moe-f32", "deepseek2-f32", "deepseek2-fp8"}) {
    auto hf = LoadHfFolder(Conf(kase) + "/hf");
    ASSERT_TRUE(hf.ok()) << hf.status().message();
    auto raw = OpenSafetensorsCheckpoint(Conf(kase) + "/hf", {});
    ASSERT_TRUE(raw.ok());
    for (const TensorEntry& e : raw->catalog.entries()) {
      HfNameMatch m = MapHfTensorName(hf->config.architecture, e.name);
      if (m.kind != HfNameMatch::Kind::kMapped) continue;
      EXPECT_EQ(GgufToHfTensorName(hf->config.architecture, m.gguf), e.name) << kase;
      ++checked;
    }
  }
  for (const char* arch : {"llama", "qwen3moe", "deepseek-v3"}) {
    auto c = SynthConfig(arch, "tiny");
    ASSERT_TRUE(c.ok());
    for (const SynthTensor& t : PlanSynthTensors(*c, DType::kF32)) {
      std::vector<std::string> names = {t.name};
      if (t.shape.size() == 3) {
        names.clear();
        for (uint64_t e = 0; e < t.shape[0]; ++e)
          names.push_back(t.name.substr(0, t.name.size() - 7) + "." + std::to_string(e) + ".weight");
      }
      for (const std::string& n : names) {
        const std::string hf = GgufToHfTensorName(c->architecture, n);
        EXPECT_FALSE(hf.empty()) << n;
        HfNameMatch m = MapHfTensorName(c->architecture, hf);
        EXPECT_EQ(m.kind, HfNameMatch::Kind::kMapped) << hf;
        EXPECT_EQ(m.gguf, n) << hf;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 400u);
  EXPECT_EQ(GgufToHfTensorName("deepseek2", "blk.1.ffn_up_exps.weight"), "");  // stacked: no single name
  EXPECT_EQ(GgufToHfTensorName("deepseek2", "blk.1.ffn_up_exps.12.weight_scale_inv"),
            "model.layers.1.mlp.experts.12.up_proj.weight_scale_inv");
  EXPECT_EQ(GgufToHfTensorName("llama", "blk.0.attn_q_a.weight"), "");  // an MLA tensor
  EXPECT_EQ(GgufToHfTensorName("llama", "blk.0.attn_q.weight.extra"), "");
  EXPECT_EQ(GgufToHfTensorName("llama", "blk.x.attn_q.weight"), "");
  EXPECT_EQ(GgufToHfTensorName("mixtral", "blk.0.attn_q.weight"), "");
  EXPECT_EQ(GgufToHfTensorName("qwen3moe", "output.weight"), "lm_head.weight");
  EXPECT_EQ(GgufToHfTensorName("qwen3moe", "rope_freqs.weight"), "");
}

// ---- config.json ----

json BaseConfig(const std::string& c) {
  auto j = ReadJsonFile(Conf(c) + "/hf/config.json");
  EXPECT_TRUE(j.ok());
  return *j;
}

std::string ConfigError(json j) {
  auto c = ParseHfConfig(j, "config.json");
  if (!c.ok()) return c.status().message();
  Status s = c->Validate().WithContext("config.json");
  if (!s.ok()) return s.message();
  auto rope = HfLlama3RopeFactors(j, *c, "config.json");
  return rope.ok() ? "" : rope.status().message();
}

TEST(HfConfig, HostileConfigs) {
  struct Case {
    const char* base;
    std::function<void(json&)> edit;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"llama-f32", [](json& j) { j["vocab_size"] = "many"; }, "field 'vocab_size' is \"many\", expected an integer"},
      {"llama-f32", [](json& j) { j.erase("hidden_size"); }, "missing field 'hidden_size'"},
      {"llama-f32", [](json& j) { j["num_hidden_layers"] = 1000000; }, "num_hidden_layers = 1000000 is out of range"},
      {"llama-f32", [](json& j) { j["num_attention_heads"] = 0; }, "num_attention_heads = 0"},
      {"llama-f32", [](json& j) { j["hidden_size"] = 1e300; }, "expected an integer"},
      {"llama-f32", [](json& j) { j["rms_norm_eps"] = "small"; }, "rms_norm_eps"},
      {"llama-f32", [](json& j) { j["architectures"] = {"MixtralForCausalLM"}; }, "'MixtralForCausalLM' is not supported"},
      {"llama-f32", [](json& j) { j["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 8}}; }, "'longrope' is not supported"},
      {"llama-f32", [](json& j) { j["hidden_act"] = "gelu"; }, "hidden_act 'gelu'"},
      {"llama-f32", [](json& j) { j["attention_bias"] = true; }, "attention_bias"},
      {"llama-f32", [](json& j) { j["tie_word_embeddings"] = "yes"; }, ""},  // only read by the folder loader
      {"qwen3moe-f32", [](json& j) { j["rope_scaling"] = {{"rope_type", "llama3"}}; }, "'llama3' is not supported"},
      {"llama-f32", [](json& j) { j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 0.5}}; }, "factor >= 1"},
      {"qwen3moe-f32", [](json& j) { j["decoder_sparse_step"] = 2; }, "decoder_sparse_step = 2"},
      {"qwen3moe-f32", [](json& j) { j["mlp_only_layers"] = {0}; }, "mlp_only_layers"},
      {"qwen3moe-f32", [](json& j) { j["num_experts_per_tok"] = 99; }, "num_experts_per_tok = 99"},
      {"qwen3moe-f32", [](json& j) { j["norm_topk_prob"] = 1; }, "expected true or false"},
      {"deepseek2-f32", [](json& j) { j["scoring_func"] = "relu"; }, "scoring_func 'relu'"},
      {"deepseek2-f32", [](json& j) { j["n_group"] = 3; }, "not a multiple of n_group = 3"},
      {"deepseek2-f32", [](json& j) { j.erase("kv_lora_rank"); }, "missing field 'kv_lora_rank'"},
      {"deepseek2-f32", [](json& j) { j["moe_layer_freq"] = 2; }, "moe_layer_freq = 2"},
      {"deepseek2-f32", [](json& j) { j["topk_method"] = "group_limited_greedy"; }, "topk_method"},
      {"deepseek2-f32", [](json& j) { j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4}}; },
       "original_max_position_embeddings"},
      {"deepseek2-f32", [](json& j) { j["rope_scaling"] = 7; }, "rope_scaling is 7"},
  };
  for (auto& c : cases) {
    json j = BaseConfig(c.base);
    c.edit(j);
    std::string msg = ConfigError(j);
    if (!*c.expect) {
      EXPECT_EQ(msg, "");
      continue;
    }
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.expect << " -> " << (msg.empty() ? "(accepted)" : msg);
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  }
  EXPECT_NE(ConfigError(json::array()).find("expected a JSON object"), std::string::npos);
}

TEST(HfConfig, KimiAndQLoraNull) {
  json j = BaseConfig("deepseek2-f32");
  j["model_type"] = "kimi_k2";
  j["q_lora_rank"] = nullptr;
  auto c = ParseHfConfig(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->architecture, "deepseek2");
  EXPECT_EQ(c->q_lora_rank, 0);
  EXPECT_TRUE(c->Validate().ok());
}

TEST(HfConfig, Qwen3Dense) {
  json j = BaseConfig("qwen3moe-f32");
  j["architectures"] = {"Qwen3ForCausalLM"};
  for (const char* k : {"num_experts", "num_experts_per_tok", "moe_intermediate_size", "decoder_sparse_step"})
    j.erase(k);
  auto c = ParseHfConfig(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->architecture, "qwen3");
  EXPECT_TRUE(c->qk_norm && c->rope_halves);
  EXPECT_FALSE(c->is_moe());
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_TRUE(c->Validate().ok());
}

TEST(HfConfig, GenerationConfig) {
  json cfg = {{"eos_token_id", 2}, {"bos_token_id", 1}};
  auto g = ParseHfGenerationConfig(json{{"eos_token_id", {7, 8}}, {"temperature", 0.6}, {"top_p", 0.95}, {"top_k", 20}},
                                   "generation_config.json", cfg, "config.json");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->eos_token_ids, (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(g->bos_token_id, 1);
  EXPECT_EQ(g->temperature, 0.6);
  EXPECT_EQ(g->top_p, 0.95);
  EXPECT_EQ(g->top_k, 20);
  auto fallback = ParseHfGenerationConfig(json::object(), "generation_config.json", cfg, "config.json");
  ASSERT_TRUE(fallback.ok());
  EXPECT_EQ(fallback->eos_token_ids, std::vector<int64_t>{2});
  EXPECT_FALSE(fallback->temperature);
  auto bad = ParseHfGenerationConfig(json{{"eos_token_id", {1, "x"}}}, "generation_config.json", cfg, "config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("generation_config.json"), std::string::npos);
}

TEST(HfFolder, MissingConfigAndBadJson) {
  TempDir d;
  auto r = LoadHfFolder(d.Path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no config.json"), std::string::npos);
  WriteText(d.Path("config.json"), "{\"vocab_size\": 3,");
  r = LoadHfFolder(d.Path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos) << r.status().message();
  EXPECT_FALSE(LoadHfFolder(d.Path("nope")).ok());
}

}  // namespace
}  // namespace moe
