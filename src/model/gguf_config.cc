#include "model/gguf_config.h"

namespace moe {

Result<ModelConfig> ParseCommonGgufConfig(const GgufFile& g) {
  ModelConfig c;
  MOE_ASSIGN_OR_RETURN(c.architecture, g.GetString("general.architecture"));
  if (auto* n = g.Find("general.name"); n && n->AsString()) c.name = *n->AsString();
  const std::string a = c.architecture + ".";
  auto opt_int = [&](const std::string& key, int64_t dflt) {
    auto v = g.GetIntOr(a + key);
    return v ? *v : dflt;
  };
  auto opt_double = [&](const std::string& key, double dflt) -> Result<double> {
    if (!g.Find(a + key)) return dflt;
    return g.GetDouble(a + key);
  };
  MOE_ASSIGN_OR_RETURN(c.hidden_size, g.GetInt(a + "embedding_length"));
  MOE_ASSIGN_OR_RETURN(c.num_hidden_layers, g.GetInt(a + "block_count"));
  MOE_ASSIGN_OR_RETURN(c.num_attention_heads, g.GetInt(a + "attention.head_count"));
  c.num_key_value_heads = opt_int("attention.head_count_kv", c.num_attention_heads);
  c.intermediate_size = opt_int("feed_forward_length", 0);
  c.max_position_embeddings = opt_int("context_length", 4096);
  c.vocab_size = opt_int("vocab_size", 0);
  if (c.vocab_size == 0) {
    if (auto* t = g.Find("tokenizer.ggml.tokens"); t && t->AsArray())
      c.vocab_size = static_cast<int64_t>(t->AsArray()->items.size());
  }
  MOE_ASSIGN_OR_RETURN(c.rms_norm_eps, opt_double("attention.layer_norm_rms_epsilon", 1e-5));
  MOE_ASSIGN_OR_RETURN(c.rope_theta, opt_double("rope.freq_base", 10000.0));
  if (c.num_attention_heads <= 0 || c.num_attention_heads > 1024)
    return Status::Errorf("{}: attention.head_count = {} is out of range", g.path(), c.num_attention_heads);
  c.head_dim = opt_int("attention.key_length", c.hidden_size / c.num_attention_heads);
  c.rope_dim = opt_int("rope.dimension_count", c.head_dim);

  c.num_experts = opt_int("expert_count", 0);
  c.num_experts_per_tok = opt_int("expert_used_count", 0);
  c.moe_intermediate_size = opt_int("expert_feed_forward_length", 0);
  c.n_shared_experts = opt_int("expert_shared_count", 0);
  c.first_k_dense_replace = opt_int("leading_dense_block_count", 0);
  c.n_group = opt_int("expert_group_count", 1);
  c.topk_group = opt_int("expert_group_used_count", 1);
  MOE_ASSIGN_OR_RETURN(c.routed_scaling_factor, opt_double("expert_weights_scale", 1.0));
  if (auto* v = g.Find(a + "expert_weights_norm")) c.norm_topk_prob = v->AsBool().value_or(false);
  // ggml's expert_gating_func: 1 = softmax, 2 = sigmoid.
  int64_t gating = opt_int("expert_gating_func", 1);
  if (gating != 1 && gating != 2)
    return Status::Errorf("{}: {}expert_gating_func = {} is not supported (1 softmax, 2 sigmoid)", g.path(), a, gating);
  c.scoring_func = gating == 2 ? Scoring::kSigmoid : Scoring::kSoftmax;

  if (auto* t = g.Find(a + "rope.scaling.type"); t && t->AsString()) {
    c.rope_scaling.type = *t->AsString();
    MOE_ASSIGN_OR_RETURN(c.rope_scaling.factor, opt_double("rope.scaling.factor", 1.0));
    c.rope_scaling.original_max_position_embeddings = opt_int("rope.scaling.original_context_length", 0);
    MOE_ASSIGN_OR_RETURN(c.rope_scaling.beta_fast, opt_double("rope.scaling.yarn_beta_fast", 32.0));
    MOE_ASSIGN_OR_RETURN(c.rope_scaling.beta_slow, opt_double("rope.scaling.yarn_beta_slow", 1.0));
    // GGUF stores 0.1·mscale_all_dim as yarn_log_multiplier.
    MOE_ASSIGN_OR_RETURN(double log_mul, opt_double("rope.scaling.yarn_log_multiplier", 0.0));
    c.rope_scaling.mscale_all_dim = log_mul / 0.1;
  }
  return c;
}

}  // namespace moe
