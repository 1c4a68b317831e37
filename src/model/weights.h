// Bound weights of a decoder: every tensor a family declares, looked up by name, checked
// for dtype and shape, and viewed in place inside the mapped file. Small vectors (norms,
// router bias) are converted to float32 at load. FP8 matrices are bound together with their
// block-scale tensor ("X.weight" + "X.weight_scale_inv", DeepSeek-V3's layout): F32 grids are
// viewed in place, BF16/F16 grids are widened to float32 once (1/16384 of the FP8 bytes).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/tensor_catalog.h"
#include "kernels/cpu/matmul.h"
#include "model/config.h"

namespace moe {

// Expert matrices [n_expert, rows, cols]: one stacked tensor (GGUF) or one tensor per
// expert (Hugging Face), viewed in place either way.
// FP8 experts carry their scale grids the same way (per-expert pointers, or one stacked grid
// [n_expert, ceil(rows / 128), ceil(cols / 128)]).
struct ExpertStack {
  WeightMatrix first;        // expert 0
  size_t n_expert = 0;
  size_t expert_stride = 0;  // bytes between experts when stacked
  size_t scale_expert_stride = 0;  // floats between experts' scale grids when stacked (FP8)
  std::vector<const void*> data = {};  // per-expert data when not stacked (else empty)
  std::vector<const float*> scales = {};  // per-expert scale grids when not stacked and FP8
  WeightMatrix Expert(size_t e) const {
    WeightMatrix m = first;
    m.data = data.empty() ? static_cast<const char*>(first.data) + e * expert_stride : data[e];
    if (first.scales) m.scales = scales.empty() ? first.scales + e * scale_expert_stride : scales[e];
    return m;
  }
};

struct GqaWeights {
  WeightMatrix q, k, v, o;  // q: [n_head·head_dim, hidden] ...
  std::vector<float> q_norm, k_norm;  // [head_dim] when qk_norm
};

struct MlaWeights {
  std::optional<WeightMatrix> q_a;   // [q_lora_rank, hidden] (absent: q is direct)
  std::vector<float> q_a_norm;       // [q_lora_rank]
  WeightMatrix q_b;                  // [n_head·(nope+rope), q_lora_rank or hidden]
  WeightMatrix kv_a;                 // [kv_lora_rank + rope, hidden]
  std::vector<float> kv_a_norm;      // [kv_lora_rank]
  WeightMatrix kv_b;                 // [n_head·(nope+v), kv_lora_rank] (empty when split)
  // llama.cpp conversions since its MLA support store kv_b split per head instead, as a stack
  // of one matrix per head: k_b = W_UK,h transposed (attn_k_b [n_head][kv_lora_rank, nope]),
  // v_b = W_UV,h (attn_v_b [n_head][v, kv_lora_rank]). Both set, or neither.
  std::optional<ExpertStack> k_b, v_b;
  WeightMatrix o;                    // [hidden, n_head·v]
};

struct FfnWeights {
  WeightMatrix gate, up, down;  // gate/up: [ff, hidden], down: [hidden, ff]
};

struct MoeWeights {
  WeightMatrix router;              // [n_expert, hidden]
  std::vector<float> router_bias;   // e_score_correction_bias, [n_expert] or empty
  ExpertStack gate, up, down;
  std::optional<FfnWeights> shared;
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  std::optional<GqaWeights> gqa;
  std::optional<MlaWeights> mla;
  std::optional<FfnWeights> ffn;
  std::optional<MoeWeights> moe;
};

struct ModelWeights {
  WeightMatrix token_embd;  // [vocab, hidden]
  WeightMatrix output;      // [vocab, hidden] (tied to token_embd when absent)
  std::vector<float> output_norm;
  std::vector<float> rope_freq_factors;  // optional (Llama 3 rope_freqs)
  std::vector<LayerWeights> layers;
  // FP8 scale grids the file stores as BF16/F16, widened to float32 at load; WeightMatrix::scales
  // points into them (Binder::TakeWidenedScales hands them over).
  std::vector<std::unique_ptr<float[]>> widened_scales;
};

// The matrices RepackWeights rewrites: every matrix of a dtype in `types` that only the
// matrix products read, where its dtype has a tiled layout (kernels/cpu/weight_tiles.h) and
// the CPU runs the fast path that reads it (UsesQuantizedActs: Q8_0 with VNNI, BF16 on AMD):
// projections (MLA's split k_b / v_b included), dense and shared FFNs, routed experts and an
// untied output. The token embedding (row lookups), the router (exact float products) and
// MLA's kv_b (sliced per head and multiplied transposed) keep rows, as do matrices whose rows
// are not whole 16-row tiles.
struct RepackPlan {
  std::vector<WeightMatrix*> matrices;
  std::vector<ExpertStack*> stacks;
  uint64_t bytes = 0;  // what the rewrite touches
};
RepackPlan PlanRepack(ModelWeights* w, const std::vector<DType>& types);

// Rewrites the plan's matrices in place in their tiled layouts and marks them so. The bytes
// must be writable (TensorCatalog::AllowWrites). `progress`: a bar on stderr. Returns the
// bytes tiled.
uint64_t RepackWeights(const RepackPlan& plan, bool progress);

// Looks tensors up in a catalog and checks them against the shapes the config implies.
class Binder {
 public:
  Binder(const TensorCatalog& catalog, std::string file) : catalog_(catalog), file_(std::move(file)) {}
  bool Has(const std::string& name) const { return catalog_.Contains(name); }
  Result<WeightMatrix> Matrix(const std::string& name, int64_t rows, int64_t cols, const std::string& why);
  // A stacked tensor `name` [n_expert, rows, cols], or else one tensor per expert named
  // `name` with ".weight" replaced by ".<e>.weight" ([rows, cols] each, one dtype).
  Result<ExpertStack> Experts(const std::string& name, int64_t n_expert, int64_t rows, int64_t cols,
                              const std::string& why);
  Result<std::vector<float>> Vector(const std::string& name, int64_t n, const std::string& why);
  // Names of catalog tensors never bound (reported by `moe info`, e.g. MTP layers).
  std::vector<std::string> Unused() const;
  // The float32 copies of BF16/F16 scale grids made while binding; the bound matrices point
  // into them, so they must live as long as the weights (ModelWeights::widened_scales).
  std::vector<std::unique_ptr<float[]>> TakeWidenedScales() { return std::move(widened_); }

 private:
  Result<const TensorEntry*> Lookup(const std::string& name, const std::vector<uint64_t>& shape,
                                    const std::string& why);
  // For an FP8 tensor `name` (".weight"): its "<name>_scale_inv" grid as float32 (F32 in place,
  // BF16/F16 widened into widened_), checked to be [lead..., ceil(rows / 128), ceil(cols / 128)].
  Result<const float*> Fp8Scales(const std::string& name, std::vector<uint64_t> lead, uint64_t rows,
                                 uint64_t cols);
  const TensorCatalog& catalog_;
  std::string file_;
  std::vector<std::string> used_;
  std::vector<std::unique_ptr<float[]>> widened_;
};

}  // namespace moe
