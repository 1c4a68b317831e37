// Hyperparameters of a decoder model, spelled as in Hugging Face config.json (the GGUF keys
// map onto these in one table per family). Zero means "absent" for optional sizes.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace moe {

enum class Scoring { kSoftmax, kSigmoid };

struct RopeScaling {
  std::string type;  // "" (none) or "yarn"
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
};

struct ModelConfig {
  std::string architecture;  // GGUF general.architecture: llama, qwen3, qwen3moe, deepseek2
  std::string name;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // dense FFN
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;           // GQA key/query head size
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t rope_dim = 0;           // rotated dims per head (GQA); MLA rotates qk_rope_head_dim
  bool rope_halves = false;       // NeoX-style rotation of halves (Qwen) vs adjacent pairs
  bool qk_norm = false;           // per-head RMSNorm of q and k (Qwen3)
  RopeScaling rope_scaling;

  // Mixture of experts (num_experts == 0: dense model).
  int64_t num_experts = 0;        // n_routed_experts
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  int64_t n_shared_experts = 0;
  int64_t first_k_dense_replace = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  Scoring scoring_func = Scoring::kSoftmax;

  // Multi-head latent attention (kv_lora_rank == 0: GQA).
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  bool is_moe() const { return num_experts > 0; }
  bool is_mla() const { return kv_lora_rank > 0; }
  bool LayerIsMoe(int64_t layer) const { return is_moe() && layer >= first_k_dense_replace; }

  // Checks ranges and internal consistency; the message names the offending field.
  Status Validate() const;
};

}  // namespace moe
