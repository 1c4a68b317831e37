#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include "base/memory_info.h"
#include "kernels/cpu/ops.h"

namespace moe {

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, const LoadOptions& opts) {
  auto m = std::unique_ptr<Model>(new Model());
  const Family* family = nullptr;
  const TensorCatalog* catalog = nullptr;
  if (std::filesystem::is_directory(path)) {
    MOE_ASSIGN_OR_RETURN(HfCheckpoint ck, LoadHfFolder(path, opts));
    m->hf_ = std::make_unique<HfCheckpoint>(std::move(ck));
    m->cfg_ = m->hf_->config;
    m->notes_ = m->hf_->notes;
    catalog = &m->hf_->catalog;
  } else {
    MOE_ASSIGN_OR_RETURN(GgufFile g, GgufFile::Open(path, opts));
    m->gguf_ = std::make_unique<GgufFile>(std::move(g));
    MOE_ASSIGN_OR_RETURN(std::string arch, m->gguf_->GetString("general.architecture"));
    family = FindFamily(arch);
    if (!family)
      return Status::Errorf("{}: architecture '{}' is not supported (supported: {})", path, arch,
                            fmt::join(SupportedArchitectures(), ", "));
    MOE_ASSIGN_OR_RETURN(m->cfg_, family->parse(*m->gguf_));
    catalog = &m->gguf_->tensors();
  }
  family = FindFamily(m->cfg_.architecture);
  if (!family) return Status::Errorf("{}: architecture '{}' is not supported", path, m->cfg_.architecture);
  MOE_RETURN_IF_ERROR(m->cfg_.Validate().WithContext(path));
  Binder binder(*catalog, path);
  MOE_RETURN_IF_ERROR(family->bind(m->cfg_, binder, &m->w_));
  m->w_.widened_scales = binder.TakeWidenedScales();
  m->unused_ = binder.Unused();
  if (const RepackPlan plan = PlanRepack(&m->w_, opts.repack); plan.bytes != 0) {
    const std::optional<uint64_t> available = AvailableMemoryBytes();
    const uint64_t limit = opts.repack_memory_limit ? opts.repack_memory_limit
                                                    : available ? *available / 10 * 9 : UINT64_MAX;
    if (opts.mmap && plan.bytes > limit) {
      m->repack_skipped_ = fmt::format(
          "weights not repacked: tiling would turn {:.1f} GB of the mapped file into private memory, {:.1f} GB "
          "allowed ({}); --repack none keeps this quiet", plan.bytes / 1e9, limit / 1e9,
          opts.repack_memory_limit ? "the caller's limit" : "90% of the memory available");
    } else {
      MOE_RETURN_IF_ERROR((m->gguf_ ? m->gguf_->mutable_tensors() : m->hf_->catalog).AllowWrites());
      m->repacked_bytes_ = RepackWeights(plan, opts.progress);
    }
  }

  const ModelConfig& c = m->cfg_;
  if (c.is_mla()) {
    m->attn_.rope_freq = RopeFrequencies(c.qk_rope_head_dim, c.rope_theta, c.rope_scaling, {});
    m->attn_.rope_style = RopeStyle::kAdjacentPairs;
    double mscale = c.rope_scaling.type == "yarn"
                        ? YarnMscale(c.rope_scaling.factor, c.rope_scaling.mscale_all_dim) : 1.0;
    m->attn_.scale = static_cast<float>(mscale * mscale /
                                        std::sqrt(static_cast<double>(c.qk_nope_head_dim + c.qk_rope_head_dim)));
  } else {
    size_t dims = c.rope_dim ? c.rope_dim : c.head_dim;
    m->attn_.rope_freq = RopeFrequencies(dims, c.rope_theta, c.rope_scaling, m->w_.rope_freq_factors);
    m->attn_.rope_style = c.rope_halves ? RopeStyle::kHalves : RopeStyle::kAdjacentPairs;
    m->attn_.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  }
  m->router_ = RouterOptions{.top_k = static_cast<size_t>(c.num_experts_per_tok),
                             .scoring = c.scoring_func,
                             .n_group = static_cast<size_t>(c.n_group),
                             .topk_group = static_cast<size_t>(c.topk_group),
                             .norm_topk_prob = c.norm_topk_prob,
                             .scale = static_cast<float>(c.routed_scaling_factor)};
  m->ComputeStats();
  return m;
}

std::vector<std::pair<size_t, size_t>> Model::KvWidths() const {
  std::vector<std::pair<size_t, size_t>> widths;
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    if (cfg_.is_mla())
      widths.push_back({static_cast<size_t>(cfg_.kv_lora_rank), static_cast<size_t>(cfg_.qk_rope_head_dim)});
    else
      widths.push_back({static_cast<size_t>(cfg_.num_key_value_heads * cfg_.head_dim),
                        static_cast<size_t>(cfg_.num_key_value_heads * cfg_.head_dim)});
  }
  return widths;
}

std::unique_ptr<KvCache> Model::NewCache(size_t capacity) const {
  return std::make_unique<KvCache>(capacity, KvWidths(), kv_dtype_);
}

size_t Model::KvBytesPerToken() const {
  size_t bytes = 0;
  for (auto [k, v] : KvWidths()) bytes += RowBytes(kv_dtype_, k) + RowBytes(kv_dtype_, v);
  return bytes;
}

Status Model::Forward(std::span<const int32_t> tokens, KvCache& cache, bool all_logits,
                      std::vector<float>* logits, ThreadPool& pool) const {
  const SeqStep step{tokens, &cache, all_logits};
  return Forward(std::span<const SeqStep>(&step, 1), logits, pool);
}

Status Model::Forward(std::span<const SeqStep> batch, std::vector<float>* logits, ThreadPool& pool) const {
  const size_t E = cfg_.hidden_size, V = cfg_.vocab_size, n_layers = w_.layers.size();
  // Validate everything before touching any cache, so a bad step leaves all caches as they were.
  size_t n = 0, out_rows = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    const SeqStep& st = batch[s];
    if (!st.cache) return Status::Errorf("batch entry {} has no cache", s);
    if (st.tokens.empty()) return Status::Error("no tokens to evaluate");
    const size_t pos0 = st.cache->n_past();
    if (pos0 + st.tokens.size() > st.cache->capacity())
      return Status::Errorf("context is full: {} cached + {} new tokens exceed the context size of {}", pos0,
                            st.tokens.size(), st.cache->capacity());
    for (size_t i = 0; i < st.tokens.size(); ++i)
      if (st.tokens[i] < 0 || static_cast<size_t>(st.tokens[i]) >= V)
        return Status::Errorf("token id {} at index {} is outside the vocabulary (size {})", st.tokens[i], i, V);
    for (size_t o = 0; o < s; ++o)
      if (batch[o].cache == st.cache) return Status::Errorf("batch entries {} and {} share one cache", o, s);
    n += st.tokens.size();
    out_rows += st.all_logits ? st.tokens.size() : 1;
  }
  if (n == 0) return Status::Error("no tokens to evaluate");

  // Per row: its position, its sequence, and whether its logits are wanted.
  std::vector<size_t> pos(n), seq(n), out_idx;
  std::vector<float> h(n * E), x(n * E), y(n * E);
  for (size_t s = 0, r = 0; s < batch.size(); ++s) {
    const SeqStep& st = batch[s];
    for (size_t i = 0; i < st.tokens.size(); ++i, ++r) {
      pos[r] = st.cache->n_past() + i;
      seq[r] = s;
      if (st.all_logits || i + 1 == st.tokens.size()) out_idx.push_back(r);
      DequantizeWeightRow(w_.token_embd, st.tokens[i], h.data() + r * E);
    }
  }
  std::vector<KvLayer*> kv(n);
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  for (size_t l = 0; l < n_layers; ++l) {
    const LayerWeights& L = w_.layers[l];
    for (size_t r = 0; r < n; ++r) kv[r] = &batch[seq[r]].cache->layer(l);
    const BatchRows rows{pos.data(), kv.data()};
    RmsNormRows(h.data(), L.attn_norm.data(), n, E, eps, x.data());
    if (L.mla) MlaAttention(cfg_, *L.mla, attn_, x.data(), n, rows, y.data(), pool);
    else GqaAttention(cfg_, *L.gqa, attn_, x.data(), n, rows, y.data(), pool);
    AddScaled(1.0f, y.data(), n * E, h.data());
    RmsNormRows(h.data(), L.ffn_norm.data(), n, E, eps, x.data());
    if (L.moe) MoeFfn(*L.moe, router_, x.data(), n, E, y.data(), pool, attn_.quantized_acts);
    else DenseFfn(*L.ffn, x.data(), n, y.data(), pool, attn_.quantized_acts);
    AddScaled(1.0f, y.data(), n * E, h.data());
  }
  for (const SeqStep& st : batch) st.cache->set_n_past(st.cache->n_past() + st.tokens.size());
  for (size_t o = 0; o < out_rows; ++o)
    RmsNormRow(h.data() + out_idx[o] * E, w_.output_norm.data(), E, eps, x.data() + o * E);
  logits->resize(out_rows * V);
  Linear(w_.output, x.data(), out_rows, logits->data(), pool, attn_.quantized_acts);
  return Status();
}

namespace {
uint64_t Params(const WeightMatrix& m) { return static_cast<uint64_t>(m.rows) * m.cols; }
// Stored bytes, FP8 block scales (float32 per 128x128 block) included.
uint64_t Bytes(const WeightMatrix& m) {
  const uint64_t scales = m.scales ? (m.rows + kF8Block - 1) / kF8Block * m.scale_stride * sizeof(float) : 0;
  return static_cast<uint64_t>(m.rows) * RowBytes(m.dtype, m.cols) + scales;
}
}  // namespace

void Model::ComputeStats() {
  ParamStats s;
  std::map<std::string, uint64_t> by_dtype;
  // `active` says whether a decoded token reads the whole matrix.
  auto add = [&](const WeightMatrix& m, bool active, uint64_t copies = 1) {
    s.total += Params(m) * copies;
    s.weight_bytes += Bytes(m) * copies;
    by_dtype[std::string(DTypeName(m.dtype))] += Bytes(m) * copies;
    if (active) {
      s.active_per_token += Params(m) * copies;
      s.active_bytes_per_token += Bytes(m) * copies;
    }
  };
  auto add_vec = [&](const std::vector<float>& v) {
    s.total += v.size();
    s.active_per_token += v.size();
    s.weight_bytes += v.size() * 4;
    s.active_bytes_per_token += v.size() * 4;
    by_dtype["f32"] += v.size() * 4;
  };
  const bool tied = w_.output.data == w_.token_embd.data;
  add(w_.token_embd, false);
  if (!tied) add(w_.output, true);
  else { s.active_per_token += Params(w_.output); s.active_bytes_per_token += Bytes(w_.output); }
  add_vec(w_.output_norm);
  const uint64_t k = cfg_.num_experts_per_tok;
  for (const LayerWeights& L : w_.layers) {
    add_vec(L.attn_norm);
    add_vec(L.ffn_norm);
    if (L.gqa) {
      for (auto* m : {&L.gqa->q, &L.gqa->k, &L.gqa->v, &L.gqa->o}) add(*m, true);
      add_vec(L.gqa->q_norm);
      add_vec(L.gqa->k_norm);
    }
    if (L.mla) {
      if (L.mla->q_a) add(*L.mla->q_a, true);
      for (auto* m : {&L.mla->q_b, &L.mla->kv_a, &L.mla->o}) add(*m, true);
      if (L.mla->k_b) {
        for (const ExpertStack* st : {&*L.mla->k_b, &*L.mla->v_b}) add(st->first, true, st->n_expert);
      } else {
        add(L.mla->kv_b, true);
      }
      add_vec(L.mla->q_a_norm);
      add_vec(L.mla->kv_a_norm);
    }
    if (L.ffn) for (auto* m : {&L.ffn->gate, &L.ffn->up, &L.ffn->down}) add(*m, true);
    if (L.moe) {
      add(L.moe->router, true);
      add_vec(L.moe->router_bias);
      for (auto* st : {&L.moe->gate, &L.moe->up, &L.moe->down}) {
        add(st->first, false, st->n_expert);
        s.active_per_token += Params(st->first) * k;
        s.active_bytes_per_token += Bytes(st->first) * k;
      }
      if (L.moe->shared) for (auto* m : {&L.moe->shared->gate, &L.moe->shared->up, &L.moe->shared->down}) add(*m, true);
    }
  }
  for (auto& [name, bytes] : by_dtype) s.bytes_by_dtype.push_back({name, bytes});
  stats_ = std::move(s);
}

}  // namespace moe
