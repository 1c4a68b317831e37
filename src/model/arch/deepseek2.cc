// Family `deepseek2`: DeepSeek-V2/V3/R1/V3.1 and Kimi K2. Multi-head latent attention (with
// or without q_lora_rank), YaRN rope on adjacent pairs, first_k_dense_replace dense layers,
// then MoE layers with shared experts; routing is sigmoid + e_score_correction bias with
// group-limited top-k (V3) or softmax (V2), renormalized and scaled by routed_scaling_factor.
#include "model/arch/families.h"
#include "model/blocks/attention.h"
#include "model/gguf_config.h"

namespace moe {

Result<ModelConfig> ParseDeepseek2(const GgufFile& g) {
  MOE_ASSIGN_OR_RETURN(ModelConfig c, ParseCommonGgufConfig(g));
  const std::string a = c.architecture + ".";
  c.q_lora_rank = g.GetIntOr(a + "attention.q_lora_rank").value_or(0);
  MOE_ASSIGN_OR_RETURN(c.kv_lora_rank, g.GetInt(a + "attention.kv_lora_rank"));
  MOE_ASSIGN_OR_RETURN(int64_t key_length, g.GetInt(a + "attention.key_length"));
  MOE_ASSIGN_OR_RETURN(c.v_head_dim, g.GetInt(a + "attention.value_length"));
  MOE_ASSIGN_OR_RETURN(c.qk_rope_head_dim, g.GetInt(a + "rope.dimension_count"));
  c.qk_nope_head_dim = key_length - c.qk_rope_head_dim;
  if (c.qk_nope_head_dim <= 0)
    return Status::Errorf("{}: attention.key_length = {} must exceed rope.dimension_count = {}", g.path(),
                          key_length, c.qk_rope_head_dim);
  c.head_dim = key_length;
  c.rope_dim = c.qk_rope_head_dim;
  if (c.num_experts <= 0)
    return Status::Errorf("{}: deepseek2 model without {}expert_count", g.path(), a);
  return c;
}

namespace {

Status BindMla(const ModelConfig& c, Binder& b, const std::string& p, MlaWeights* w) {
  const int64_t H = c.num_attention_heads, E = c.hidden_size, C = c.kv_lora_rank;
  const int64_t nope = c.qk_nope_head_dim, rope = c.qk_rope_head_dim, dv = c.v_head_dim;
  const std::string why = fmt::format(
      "num_attention_heads={}, q_lora_rank={}, kv_lora_rank={}, qk_nope_head_dim={}, qk_rope_head_dim={}, "
      "v_head_dim={}, hidden_size={}", H, c.q_lora_rank, C, nope, rope, dv, E);
  if (c.q_lora_rank > 0) {
    MOE_ASSIGN_OR_RETURN(w->q_a, b.Matrix(p + "attn_q_a.weight", c.q_lora_rank, E, why));
    MOE_ASSIGN_OR_RETURN(w->q_a_norm, b.Vector(p + "attn_q_a_norm.weight", c.q_lora_rank, why));
    MOE_ASSIGN_OR_RETURN(w->q_b, b.Matrix(p + "attn_q_b.weight", H * (nope + rope), c.q_lora_rank, why));
  } else {
    MOE_ASSIGN_OR_RETURN(w->q_b, b.Matrix(p + "attn_q.weight", H * (nope + rope), E, why));
  }
  MOE_ASSIGN_OR_RETURN(w->kv_a, b.Matrix(p + "attn_kv_a_mqa.weight", C + rope, E, why));
  MOE_ASSIGN_OR_RETURN(w->kv_a_norm, b.Vector(p + "attn_kv_a_norm.weight", C, why));
  if (!b.Has(p + "attn_kv_b.weight") && b.Has(p + "attn_k_b.weight")) {
    // The split form of newer llama.cpp conversions (MlaWeights::k_b, v_b).
    MOE_ASSIGN_OR_RETURN(w->k_b, b.Experts(p + "attn_k_b.weight", H, C, nope, why));
    MOE_ASSIGN_OR_RETURN(w->v_b, b.Experts(p + "attn_v_b.weight", H, dv, C, why));
  } else {
    MOE_ASSIGN_OR_RETURN(w->kv_b, b.Matrix(p + "attn_kv_b.weight", H * (nope + dv), C,
                                           why + " (or the split form: attn_k_b and attn_v_b)"));
  }
  MOE_ASSIGN_OR_RETURN(w->o, b.Matrix(p + "attn_output.weight", E, H * dv, why));
  return Status();
}

}  // namespace

Status BindDeepseek2(const ModelConfig& c, Binder& b, ModelWeights* w) {
  MOE_RETURN_IF_ERROR(BindCommon(c, b, w));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    auto& L = w->layers[l];
    L.mla.emplace();
    MOE_RETURN_IF_ERROR(BindMla(c, b, p, &*L.mla));
    if (!c.LayerIsMoe(l)) {
      L.ffn.emplace();
      MOE_RETURN_IF_ERROR(BindFfn(b, p, "", c.intermediate_size, c.hidden_size,
                                  fmt::format("intermediate_size={}, hidden_size={}", c.intermediate_size, c.hidden_size),
                                  &*L.ffn));
      continue;
    }
    L.moe.emplace();
    MOE_RETURN_IF_ERROR(BindRoutedExperts(c, b, p, &*L.moe));
    if (b.Has(p + "exp_probs_b.bias")) {
      MOE_ASSIGN_OR_RETURN(L.moe->router_bias, b.Vector(p + "exp_probs_b.bias", c.num_experts, "num_experts"));
    }
    if (c.n_shared_experts > 0) {
      const int64_t ff = c.n_shared_experts * c.moe_intermediate_size;
      L.moe->shared.emplace();
      MOE_RETURN_IF_ERROR(BindFfn(b, p, "_shexp", ff, c.hidden_size,
                                  fmt::format("n_shared_experts={} x moe_intermediate_size={}", c.n_shared_experts,
                                              c.moe_intermediate_size),
                                  &*L.moe->shared));
    }
  }
  return Status();
}

}  // namespace moe
