#include "model/config.h"

namespace moe {

Status ModelConfig::Validate() const {
  auto positive = [](const char* name, int64_t v, int64_t max) -> Status {
    if (v <= 0 || v > max) return Status::Errorf("{} = {} is out of range (1..{})", name, v, max);
    return Status();
  };
  MOE_RETURN_IF_ERROR(positive("vocab_size", vocab_size, 1 << 24));
  MOE_RETURN_IF_ERROR(positive("hidden_size", hidden_size, 1 << 16));
  MOE_RETURN_IF_ERROR(positive("num_hidden_layers", num_hidden_layers, 1024));
  MOE_RETURN_IF_ERROR(positive("num_attention_heads", num_attention_heads, 1024));
  if (!(rms_norm_eps > 0 && rms_norm_eps < 1)) return Status::Errorf("rms_norm_eps = {} is out of range", rms_norm_eps);
  if (!(rope_theta > 0)) return Status::Errorf("rope_theta = {} must be positive", rope_theta);
  if (is_mla()) {
    MOE_RETURN_IF_ERROR(positive("kv_lora_rank", kv_lora_rank, 1 << 14));
    MOE_RETURN_IF_ERROR(positive("qk_nope_head_dim", qk_nope_head_dim, 1024));
    MOE_RETURN_IF_ERROR(positive("qk_rope_head_dim", qk_rope_head_dim, 1024));
    MOE_RETURN_IF_ERROR(positive("v_head_dim", v_head_dim, 1024));
    if (qk_rope_head_dim % 2) return Status::Errorf("qk_rope_head_dim = {} must be even", qk_rope_head_dim);
    if (q_lora_rank < 0 || q_lora_rank > (1 << 16)) return Status::Errorf("q_lora_rank = {} is out of range", q_lora_rank);
  } else {
    MOE_RETURN_IF_ERROR(positive("num_key_value_heads", num_key_value_heads, num_attention_heads));
    MOE_RETURN_IF_ERROR(positive("head_dim", head_dim, 1024));
    if (num_attention_heads % num_key_value_heads)
      return Status::Errorf("num_attention_heads = {} is not a multiple of num_key_value_heads = {}",
                            num_attention_heads, num_key_value_heads);
    if (rope_dim < 0 || rope_dim > head_dim || rope_dim % 2)
      return Status::Errorf("rope dimension count {} must be even and at most head_dim = {}", rope_dim, head_dim);
  }
  bool any_dense = !is_moe() || first_k_dense_replace > 0;
  if (any_dense) MOE_RETURN_IF_ERROR(positive("intermediate_size", intermediate_size, 1 << 20));
  if (is_moe()) {
    MOE_RETURN_IF_ERROR(positive("num_experts", num_experts, 1 << 14));
    MOE_RETURN_IF_ERROR(positive("num_experts_per_tok", num_experts_per_tok, num_experts));
    MOE_RETURN_IF_ERROR(positive("moe_intermediate_size", moe_intermediate_size, 1 << 20));
    MOE_RETURN_IF_ERROR(positive("n_group", n_group, num_experts));
    if (num_experts % n_group)
      return Status::Errorf("num_experts = {} is not a multiple of n_group = {}", num_experts, n_group);
    MOE_RETURN_IF_ERROR(positive("topk_group", topk_group, n_group));
    if (num_experts_per_tok > topk_group * (num_experts / n_group))
      return Status::Errorf("num_experts_per_tok = {} exceeds the experts in topk_group = {} groups",
                            num_experts_per_tok, topk_group);
    if (n_shared_experts < 0 || n_shared_experts > 64) return Status::Errorf("n_shared_experts = {} is out of range", n_shared_experts);
    if (first_k_dense_replace < 0 || first_k_dense_replace > num_hidden_layers)
      return Status::Errorf("first_k_dense_replace = {} is out of range", first_k_dense_replace);
  }
  if (rope_scaling.type == "yarn") {
    if (!(rope_scaling.factor >= 1) || rope_scaling.original_max_position_embeddings <= 0)
      return Status::Errorf("yarn rope scaling needs factor >= 1 and original_max_position_embeddings > 0");
  } else if (!rope_scaling.type.empty() && rope_scaling.type != "none" && rope_scaling.type != "linear") {
    return Status::Errorf("rope scaling type '{}' is not supported yet", rope_scaling.type);
  }
  return Status();
}

}  // namespace moe
