// Family `qwen3moe` (Qwen3-MoE, Qwen3-Coder): GQA with per-head q/k RMSNorm and NeoX rope,
// every layer a MoE FFN with a softmax router, top-k renormalized (norm_topk_prob), no
// shared experts.
#include "model/arch/families.h"
#include "model/gguf_config.h"

namespace moe {

Result<ModelConfig> ParseQwen3Moe(const GgufFile& g) {
  MOE_ASSIGN_OR_RETURN(ModelConfig c, ParseCommonGgufConfig(g));
  c.qk_norm = true;
  c.rope_halves = true;
  c.scoring_func = Scoring::kSoftmax;
  // Qwen3-MoE checkpoints set norm_topk_prob; GGUF files usually omit the key.
  if (auto* v = g.Find(c.architecture + ".expert_weights_norm")) c.norm_topk_prob = v->AsBool().value_or(true);
  else c.norm_topk_prob = true;
  if (c.num_experts <= 0)
    return Status::Errorf("{}: qwen3moe model without {}.expert_count", g.path(), c.architecture);
  return c;
}

Status BindRoutedExperts(const ModelConfig& c, Binder& b, const std::string& p, MoeWeights* w) {
  const int64_t E = c.num_experts, H = c.hidden_size, F = c.moe_intermediate_size;
  const std::string why = fmt::format("num_experts={}, moe_intermediate_size={}, hidden_size={}", E, F, H);
  MOE_ASSIGN_OR_RETURN(w->router, b.Matrix(p + "ffn_gate_inp.weight", E, H, why));
  MOE_ASSIGN_OR_RETURN(w->gate, b.Experts(p + "ffn_gate_exps.weight", E, F, H, why));
  MOE_ASSIGN_OR_RETURN(w->up, b.Experts(p + "ffn_up_exps.weight", E, F, H, why));
  MOE_ASSIGN_OR_RETURN(w->down, b.Experts(p + "ffn_down_exps.weight", E, H, F, why));
  return Status();
}

Status BindQwen3Moe(const ModelConfig& c, Binder& b, ModelWeights* w) {
  MOE_RETURN_IF_ERROR(BindCommon(c, b, w));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    auto& L = w->layers[l];
    L.gqa.emplace();
    MOE_RETURN_IF_ERROR(BindGqa(c, b, p, &*L.gqa));
    L.moe.emplace();
    MOE_RETURN_IF_ERROR(BindRoutedExperts(c, b, p, &*L.moe));
  }
  return Status();
}

}  // namespace moe
