// Hugging Face tensor names <-> the GGUF-style names the family binders look up
// (model.layers.3.self_attn.q_proj.weight <-> blk.3.attn_q.weight). One rule table per
// family, all in hf_tensor_names.cc, read in both directions.
#pragma once

#include <cstdint>
#include <string>

namespace moe {

struct HfNameMatch {
  enum class Kind {
    kMapped,   // `gguf` holds the binder's name
    kIgnored,  // a buffer exports carry but nothing needs (rotary_emb.inv_freq)
    kUnknown,  // no rule of the family matches
  };
  Kind kind = Kind::kUnknown;
  std::string gguf;
  int64_t layer = -1;   // model.layers.<layer>., -1 for global tensors
  int64_t expert = -1;  // mlp.experts.<expert>., -1 otherwise
};

// Maps `hf_name` for the family whose GGUF architecture is `gguf_arch` (llama, qwen3,
// qwen3moe, deepseek2). Suffixes after the module (weight, bias, weight_scale_inv) are kept.
HfNameMatch MapHfTensorName(const std::string& gguf_arch, const std::string& hf_name);

// The inverse, from the same rules: the Hugging Face name of binder name `gguf_name` of the
// family (blk.1.ffn_up_exps.7.weight -> model.layers.1.mlp.experts.7.up_proj.weight), or ""
// when no rule produces it. Routed experts are per-expert tensors in Hugging Face folders, so
// a stacked name (blk.1.ffn_up_exps.weight) has no inverse: ask for each expert's.
std::string GgufToHfTensorName(const std::string& gguf_arch, const std::string& gguf_name);

}  // namespace moe
