#include "model/synth.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "base/progress.h"
#include "base/thread_pool.h"
#include "io/gguf_writer.h"

namespace moe {

namespace {

// Text the synth tokenizer learns its merges from.
constexpr const char* kMergeCorpus =
    "The quick brown fox jumps over the lazy dog. Mixture of experts models route each token to a few "
    "experts, so only a small part of the parameters is read for every token. The engine reads the "
    "weights of the selected experts once, at the bandwidth of the memory, and the attention keeps a "
    "compressed cache of the keys and values. Hello, world! This is a test of the tokenizer and the "
    "chat template, with numbers like 1234 and 2026, and the words that are the most common in English: "
    "the of and to in is it you that he was for on are with as his they at be this have from or one had "
    "by word but not what all were we when your can said there use an each which she do how their if "
    "will up other about out many then them these so some her would make like him into time has look "
    "two more write go see number no way could people my than first water been call who oil its now find";

// GPT-2's reversible byte → printable code point map.
std::string ByteToUnicode(uint8_t b) {
  uint32_t cp;
  if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174)) {
    cp = b;
  } else {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) s += static_cast<char>(cp);
  else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

uint64_t SplitMix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<std::string> SynthArchs() { return {"llama", "qwen3moe", "deepseek-v3"}; }
std::vector<std::string> SynthPresets() { return {"tiny", "small", "bench"}; }

SynthVocab BuildSynthVocab(size_t vocab_size) {
  SynthVocab v;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(ByteToUnicode(static_cast<uint8_t>(b)));
    v.token_types.push_back(1);
  }
  // Learn merges: words of the corpus (with their leading space, GPT-2 style) as symbol
  // sequences; repeatedly merge the most frequent adjacent pair.
  std::vector<std::vector<std::string>> words;
  std::string text = kMergeCorpus;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i + 1;
    while (j < text.size() && text[j] != ' ') ++j;
    std::vector<std::string> w;
    for (size_t k = i; k < j; ++k) w.push_back(ByteToUnicode(static_cast<uint8_t>(text[k])));
    words.push_back(std::move(w));
    i = j;
  }
  const size_t n_special = 8;
  const size_t max_merges = std::min<size_t>(vocab_size > 256 + n_special ? vocab_size - 256 - n_special : 0, 400);
  while (v.merges.size() < max_merges) {
    std::map<std::pair<std::string, std::string>, int> counts;
    for (auto& w : words)
      for (size_t k = 0; k + 1 < w.size(); ++k) counts[{w[k], w[k + 1]}]++;
    std::pair<std::string, std::string> best;
    int best_n = 1;
    for (auto& [p, n] : counts)
      if (n > best_n) { best = p; best_n = n; }
    if (best_n < 2) break;
    v.merges.push_back(best.first + " " + best.second);
    v.tokens.push_back(best.first + best.second);
    v.token_types.push_back(1);
    for (auto& w : words) {
      std::vector<std::string> out;
      for (size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == best.first && w[k + 1] == best.second) {
          out.push_back(best.first + best.second);
          ++k;
        } else {
          out.push_back(w[k]);
        }
      }
      w = std::move(out);
    }
  }
  const char* specials[n_special] = {"<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>",
                                     "<think>", "</think>", "<|pad|>", "<|unk|>"};
  v.bos = static_cast<int32_t>(v.tokens.size());
  v.eos = v.bos + 1;
  for (auto* s : specials) {
    v.tokens.push_back(s);
    v.token_types.push_back(std::string(s).find("think") != std::string::npos ? 4 : 3);
  }
  for (size_t r = 0; v.tokens.size() < vocab_size; ++r) {
    v.tokens.push_back("<|reserved_" + std::to_string(r) + "|>");
    v.token_types.push_back(3);
  }
  v.tokens.resize(vocab_size);
  v.token_types.resize(vocab_size);
  return v;
}

Result<ModelConfig> SynthConfig(const std::string& arch, const std::string& preset) {
  ModelConfig c;
  const bool tiny = preset == "tiny", small = preset == "small", bench = preset == "bench";
  if (!tiny && !small && !bench)
    return Status::Errorf("unknown preset '{}' (expected tiny, small or bench)", preset);
  c.rms_norm_eps = 1e-6;
  if (arch == "llama") {
    c.architecture = "llama";
    c.vocab_size = bench ? 32000 : tiny ? 512 : 2048;
    c.hidden_size = bench ? 1024 : tiny ? 64 : 256;
    c.num_hidden_layers = bench ? 16 : tiny ? 2 : 4;
    c.num_attention_heads = bench ? 16 : tiny ? 4 : 8;
    c.num_key_value_heads = bench ? 4 : 2;
    c.head_dim = c.hidden_size / c.num_attention_heads;
    c.rope_dim = c.head_dim;
    c.intermediate_size = bench ? 2816 : tiny ? 128 : 704;
    c.rope_theta = 500000.0;
    c.max_position_embeddings = 8192;
  } else if (arch == "qwen3moe") {
    c.architecture = "qwen3moe";
    c.vocab_size = bench ? 32000 : tiny ? 512 : 2048;
    c.hidden_size = bench ? 1024 : tiny ? 64 : 256;
    c.num_hidden_layers = bench ? 24 : tiny ? 2 : 4;
    c.num_attention_heads = bench ? 16 : tiny ? 4 : 8;
    c.num_key_value_heads = bench ? 4 : 2;
    c.head_dim = bench ? 128 : tiny ? 16 : 32;
    c.rope_dim = c.head_dim;
    c.qk_norm = true;
    c.rope_halves = true;
    c.num_experts = bench ? 64 : tiny ? 8 : 16;
    c.num_experts_per_tok = bench ? 8 : tiny ? 2 : 4;
    c.moe_intermediate_size = bench ? 512 : tiny ? 32 : 128;
    c.norm_topk_prob = true;
    c.rope_theta = 1000000.0;
    c.max_position_embeddings = 32768;
  } else if (arch == "deepseek-v3") {
    c.architecture = "deepseek2";
    c.vocab_size = bench ? 32000 : tiny ? 512 : 2048;
    c.hidden_size = bench ? 1024 : tiny ? 64 : 256;
    c.num_hidden_layers = bench ? 16 : tiny ? 3 : 4;
    c.first_k_dense_replace = 1;
    c.intermediate_size = bench ? 2816 : tiny ? 128 : 704;
    c.num_attention_heads = bench ? 16 : tiny ? 4 : 8;
    c.num_key_value_heads = c.num_attention_heads;
    c.q_lora_rank = bench ? 768 : tiny ? 32 : 192;
    c.kv_lora_rank = bench ? 512 : tiny ? 32 : 128;
    c.qk_nope_head_dim = bench ? 128 : tiny ? 16 : 32;
    c.qk_rope_head_dim = bench ? 64 : tiny ? 8 : 32;
    c.v_head_dim = bench ? 128 : tiny ? 16 : 32;
    c.head_dim = c.qk_nope_head_dim + c.qk_rope_head_dim;
    c.rope_dim = c.qk_rope_head_dim;
    c.num_experts = bench ? 64 : tiny ? 8 : 16;
    c.num_experts_per_tok = bench ? 6 : tiny ? 2 : 4;
    c.n_group = bench ? 8 : 4;
    c.topk_group = bench ? 4 : 2;
    c.n_shared_experts = bench ? 2 : 1;
    c.moe_intermediate_size = bench ? 704 : tiny ? 32 : 128;
    c.routed_scaling_factor = 2.5;
    c.norm_topk_prob = true;
    c.scoring_func = Scoring::kSigmoid;
    c.rope_theta = 10000.0;
    c.rope_scaling = {.type = "yarn", .factor = 40.0, .original_max_position_embeddings = 4096,
                      .beta_fast = 32.0, .beta_slow = 1.0, .mscale = 1.0, .mscale_all_dim = 1.0};
    c.max_position_embeddings = 4096 * 40;
  } else {
    return Status::Errorf("unknown architecture '{}' (expected llama, qwen3moe or deepseek-v3)", arch);
  }
  c.name = fmt::format("synth-{}-{}", arch, preset);
  MOE_RETURN_IF_ERROR(c.Validate());
  return c;
}

std::vector<SynthTensor> PlanSynthTensors(const ModelConfig& c, DType t) {
  std::vector<SynthTensor> p;
  auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  auto mat = [&](const std::string& name, int64_t rows, int64_t cols, float gain = 1.0f,
                 SynthRole role = SynthRole::kLinear) {
    p.push_back({name, {u(rows), u(cols)}, t, role, gain / std::sqrt(static_cast<float>(cols)), 0.0f});
  };
  auto norm = [&](const std::string& name, int64_t n) {
    p.push_back({name, {u(n)}, DType::kF32, SynthRole::kNorm, 0.05f, 1.0f});
  };
  const int64_t E = c.hidden_size;
  p.push_back({"token_embd.weight", {u(c.vocab_size), u(E)}, t, SynthRole::kEmbedding, 1.0f, 0.0f});
  norm("output_norm.weight", E);
  mat("output.weight", c.vocab_size, E, 3.0f, SynthRole::kOutput);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    norm(b + "attn_norm.weight", E);
    norm(b + "ffn_norm.weight", E);
    if (c.is_mla()) {
      const int64_t H = c.num_attention_heads, qk = c.qk_nope_head_dim + c.qk_rope_head_dim;
      mat(b + "attn_q_a.weight", c.q_lora_rank, E);
      norm(b + "attn_q_a_norm.weight", c.q_lora_rank);
      mat(b + "attn_q_b.weight", H * qk, c.q_lora_rank);
      mat(b + "attn_kv_a_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, E);
      norm(b + "attn_kv_a_norm.weight", c.kv_lora_rank);
      mat(b + "attn_kv_b.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
      mat(b + "attn_output.weight", E, H * c.v_head_dim);
    } else {
      const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim;
      mat(b + "attn_q.weight", H * D, E);
      mat(b + "attn_k.weight", KV * D, E);
      mat(b + "attn_v.weight", KV * D, E);
      mat(b + "attn_output.weight", E, H * D);
      if (c.qk_norm) {
        norm(b + "attn_q_norm.weight", D);
        norm(b + "attn_k_norm.weight", D);
      }
    }
    if (!c.LayerIsMoe(l)) {
      mat(b + "ffn_gate.weight", c.intermediate_size, E);
      mat(b + "ffn_up.weight", c.intermediate_size, E);
      mat(b + "ffn_down.weight", E, c.intermediate_size);
      continue;
    }
    const int64_t X = c.num_experts, F = c.moe_intermediate_size;
    p.push_back({b + "ffn_gate_inp.weight", {u(X), u(E)}, DType::kF32, SynthRole::kRouter,
                 2.0f / std::sqrt(static_cast<float>(E)), 0.0f});
    if (c.scoring_func == Scoring::kSigmoid)
      p.push_back({b + "exp_probs_b.bias", {u(X)}, DType::kF32, SynthRole::kRouterBias, 0.05f, 0.0f});
    auto experts = [&](const std::string& name, int64_t rows, int64_t cols) {
      p.push_back({name, {u(X), u(rows), u(cols)}, t, SynthRole::kLinear, 1.0f / std::sqrt(static_cast<float>(cols)),
                   0.0f});
    };
    experts(b + "ffn_gate_exps.weight", F, E);
    experts(b + "ffn_down_exps.weight", E, F);
    experts(b + "ffn_up_exps.weight", F, E);
    if (c.n_shared_experts > 0) {
      const int64_t S = c.n_shared_experts * F;
      mat(b + "ffn_gate_shexp.weight", S, E);
      mat(b + "ffn_down_shexp.weight", E, S);
      mat(b + "ffn_up_shexp.weight", S, E);
    }
  }
  return p;
}

void SynthRow(uint64_t seed, size_t index, const SynthTensor& t, uint64_t row, float* out) {
  // Uniform on [-a, a] has standard deviation a/√3.
  const float a = t.stddev * std::sqrt(3.0f);
  uint64_t s = seed * 0x100000001B3ull ^ (static_cast<uint64_t>(index) << 40) ^ row;
  const size_t cols = t.shape.back();
  for (size_t k = 0; k < cols; ++k) {
    double unit = (SplitMix(s) >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
    out[k] = t.mean + a * static_cast<float>(2 * unit - 1);
  }
}

void WriteArchMetadata(const ModelConfig& c, DType t, GgufWriter& w) {
  const std::string a = c.architecture + ".";
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  w.SetString("general.architecture", c.architecture);
  w.SetString("general.type", "model");
  w.SetString("general.name", c.name);
  w.SetU32("general.file_type", t == DType::kF32 ? 0 : t == DType::kF16 ? 1 : t == DType::kQ8_0 ? 7 : 32);
  w.SetU32("general.quantization_version", 2);
  w.SetU32(a + "vocab_size", u32(c.vocab_size));
  w.SetU32(a + "block_count", u32(c.num_hidden_layers));
  w.SetU32(a + "context_length", u32(c.max_position_embeddings));
  w.SetU32(a + "embedding_length", u32(c.hidden_size));
  if (c.intermediate_size) w.SetU32(a + "feed_forward_length", u32(c.intermediate_size));
  w.SetU32(a + "attention.head_count", u32(c.num_attention_heads));
  w.SetU32(a + "attention.head_count_kv", u32(c.num_key_value_heads));
  w.SetF32(a + "rope.freq_base", static_cast<float>(c.rope_theta));
  w.SetF32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  if (c.is_mla()) {
    w.SetU32(a + "leading_dense_block_count", u32(c.first_k_dense_replace));
    w.SetU32(a + "attention.q_lora_rank", u32(c.q_lora_rank));
    w.SetU32(a + "attention.kv_lora_rank", u32(c.kv_lora_rank));
    w.SetU32(a + "attention.key_length", u32(c.qk_nope_head_dim + c.qk_rope_head_dim));
    w.SetU32(a + "attention.value_length", u32(c.v_head_dim));
    w.SetU32(a + "rope.dimension_count", u32(c.qk_rope_head_dim));
  } else {
    w.SetU32(a + "attention.key_length", u32(c.head_dim));
    w.SetU32(a + "attention.value_length", u32(c.head_dim));
    w.SetU32(a + "rope.dimension_count", u32(c.rope_dim));
  }
  if (c.is_moe()) {
    w.SetU32(a + "expert_count", u32(c.num_experts));
    w.SetU32(a + "expert_used_count", u32(c.num_experts_per_tok));
    w.SetU32(a + "expert_feed_forward_length", u32(c.moe_intermediate_size));
    w.SetBool(a + "expert_weights_norm", c.norm_topk_prob);
    if (c.n_shared_experts) w.SetU32(a + "expert_shared_count", u32(c.n_shared_experts));
    if (c.is_mla()) {
      w.SetF32(a + "expert_weights_scale", static_cast<float>(c.routed_scaling_factor));
      w.SetU32(a + "expert_gating_func", c.scoring_func == Scoring::kSigmoid ? 2 : 1);
      w.SetU32(a + "expert_group_count", u32(c.n_group));
      w.SetU32(a + "expert_group_used_count", u32(c.topk_group));
    }
  }
  if (c.rope_scaling.type == "yarn") {
    w.SetString(a + "rope.scaling.type", "yarn");
    w.SetF32(a + "rope.scaling.factor", static_cast<float>(c.rope_scaling.factor));
    w.SetU32(a + "rope.scaling.original_context_length", u32(c.rope_scaling.original_max_position_embeddings));
    w.SetF32(a + "rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * c.rope_scaling.mscale_all_dim));
    w.SetF32(a + "rope.scaling.yarn_beta_fast", static_cast<float>(c.rope_scaling.beta_fast));
    w.SetF32(a + "rope.scaling.yarn_beta_slow", static_cast<float>(c.rope_scaling.beta_slow));
  }
}

std::string GgufTokenizerPre(const ModelConfig& c) {
  return c.architecture == "deepseek2" ? "deepseek-v3" : c.architecture == "qwen3moe" ? "qwen2" : "llama-bpe";
}

namespace {

void WriteMetadata(const ModelConfig& c, DType t, GgufWriter& w) {
  WriteArchMetadata(c, t, w);
  SynthVocab v = BuildSynthVocab(static_cast<size_t>(c.vocab_size));
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", GgufTokenizerPre(c));
  w.SetStringArray("tokenizer.ggml.tokens", v.tokens);
  w.SetI32Array("tokenizer.ggml.token_type", v.token_types);
  w.SetStringArray("tokenizer.ggml.merges", v.merges);
  w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
  w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos));
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  w.SetBool("tokenizer.ggml.add_eos_token", false);
  w.SetString("tokenizer.chat_template", kChatMlTemplate);
}

}  // namespace

Status SynthesizeModel(const SynthOptions& o, const std::string& path) {
  if (o.type != DType::kF32 && o.type != DType::kF16 && o.type != DType::kBF16 && o.type != DType::kQ8_0)
    return Status::Errorf("synth: --type {} cannot be written as GGUF (f32, f16, bf16 or q8_0; FP8 with block "
                          "scales only in a Hugging Face folder: --format hf)", DTypeName(o.type));
  MOE_ASSIGN_OR_RETURN(ModelConfig c, SynthConfig(o.arch, o.preset));
  std::vector<SynthTensor> plan = PlanSynthTensors(c, o.type);
  const int64_t H = c.num_attention_heads, C = c.kv_lora_rank, nope = c.qk_nope_head_dim, dv = c.v_head_dim;
  auto split = [&](const SynthTensor& t) { return o.split_kv_b && t.name.ends_with("attn_kv_b.weight"); };
  if (o.split_kv_b && (!c.is_mla() || (o.type == DType::kQ8_0 && nope % 32 != 0)))
    return Status::Errorf("synth: the split attn_k_b/attn_v_b form needs an MLA model{}",
                          c.is_mla() ? fmt::format(" whose qk_nope_head_dim ({}) is a multiple of 32 for q8_0", nope) : "");
  GgufWriter w;
  WriteMetadata(c, o.type, w);
  uint64_t total = 0;
  auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  for (auto& t : plan) {
    if (split(t)) {
      const std::string stem = t.name.substr(0, t.name.size() - std::string("attn_kv_b.weight").size());
      w.AddTensor(stem + "attn_k_b.weight", static_cast<uint32_t>(t.type), {u(H), u(C), u(nope)});
      total += w.TensorBytes(w.num_tensors() - 1);
      w.AddTensor(stem + "attn_v_b.weight", static_cast<uint32_t>(t.type), {u(H), u(dv), u(C)});
    } else {
      w.AddTensor(t.name, static_cast<uint32_t>(t.type), t.shape);
    }
    total += w.TensorBytes(w.num_tensors() - 1);
  }
  MOE_RETURN_IF_ERROR(w.Begin(path));
  Progress progress("writing " + path, total, o.progress);
  uint64_t done = 0;
  ThreadPool& pool = GlobalPool();
  std::vector<uint8_t> bytes;
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const SynthTensor& t = plan[ti];
    const size_t cols = t.shape.back();
    size_t rows = 1;
    for (size_t d = 0; d + 1 < t.shape.size(); ++d) rows *= t.shape[d];
    const size_t rb = RowBytes(t.type, cols);
    if (split(t)) {
      // kv_b's rows as floats, then W_UK,h transposed and W_UV,h, each rounded per row.
      std::vector<float> kv(rows * cols), k(u(H * C * nope)), v(u(H * dv * C));
      for (size_t r = 0; r < rows; ++r) SynthRow(o.seed, ti, t, r, kv.data() + r * cols);
      for (int64_t h = 0; h < H; ++h) {
        const float* head = kv.data() + u(h * (nope + dv)) * cols;
        for (int64_t l = 0; l < C; ++l)
          for (int64_t n = 0; n < nope; ++n) k[u((h * C + l) * nope + n)] = head[u(n) * cols + u(l)];
        std::copy_n(head + u(nope) * cols, u(dv) * cols, v.data() + u(h * dv) * cols);
      }
      for (auto [m, m_cols] : {std::pair{&k, nope}, std::pair{&v, C}}) {
        const size_t m_rows = m->size() / u(m_cols), m_rb = RowBytes(t.type, u(m_cols));
        bytes.assign(m_rows * m_rb, 0);
        for (size_t r = 0; r < m_rows; ++r)
          QuantizeRow(t.type, m->data() + r * u(m_cols), u(m_cols), bytes.data() + r * m_rb);
        MOE_RETURN_IF_ERROR(w.WriteTensor(o.no_data ? nullptr : bytes.data(), bytes.size()));
        done += bytes.size();
      }
      continue;
    }
    if (o.no_data) {
      MOE_RETURN_IF_ERROR(w.WriteTensor(nullptr, rows * rb));
      continue;
    }
    bytes.resize(rows * rb);
    pool.ParallelFor(rows, 64, [&](size_t rb0, size_t rb1) {
      std::vector<float> row(cols);
      for (size_t r = rb0; r < rb1; ++r) {
        SynthRow(o.seed, ti, t, r, row.data());
        QuantizeRow(t.type, row.data(), cols, bytes.data() + r * rb);
      }
    });
    MOE_RETURN_IF_ERROR(w.WriteTensor(bytes.data(), bytes.size()));
    done += bytes.size();
    progress.Update(done);
  }
  progress.Finish();
  return w.Finish();
}

}  // namespace moe
