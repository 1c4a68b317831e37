// Family `llama` (Llama 2/3 dense decoders: GQA, RoPE on adjacent pairs as GGUF stores the
// permuted q/k, SwiGLU) and its sibling `qwen3` (the same blocks plus per-head q/k RMSNorm
// and NeoX-style rotation of halves).
#include "model/arch/families.h"
#include "model/gguf_config.h"

namespace moe {

Result<ModelConfig> ParseLlama(const GgufFile& g) {
  MOE_ASSIGN_OR_RETURN(ModelConfig c, ParseCommonGgufConfig(g));
  c.num_experts = 0;
  if (c.architecture == "qwen3") {
    c.qk_norm = true;
    c.rope_halves = true;
  }
  return c;
}

Status BindGqa(const ModelConfig& c, Binder& b, const std::string& p, GqaWeights* w) {
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim, E = c.hidden_size;
  const std::string why = fmt::format("num_attention_heads={}, num_key_value_heads={}, head_dim={}, hidden_size={}",
                                      H, KV, D, E);
  MOE_ASSIGN_OR_RETURN(w->q, b.Matrix(p + "attn_q.weight", H * D, E, why));
  MOE_ASSIGN_OR_RETURN(w->k, b.Matrix(p + "attn_k.weight", KV * D, E, why));
  MOE_ASSIGN_OR_RETURN(w->v, b.Matrix(p + "attn_v.weight", KV * D, E, why));
  MOE_ASSIGN_OR_RETURN(w->o, b.Matrix(p + "attn_output.weight", E, H * D, why));
  if (c.qk_norm) {
    MOE_ASSIGN_OR_RETURN(w->q_norm, b.Vector(p + "attn_q_norm.weight", D, "head_dim"));
    MOE_ASSIGN_OR_RETURN(w->k_norm, b.Vector(p + "attn_k_norm.weight", D, "head_dim"));
  }
  return Status();
}

Status BindFfn(Binder& b, const std::string& p, const std::string& suffix, int64_t ff, int64_t hidden,
               const std::string& why, FfnWeights* w) {
  MOE_ASSIGN_OR_RETURN(w->gate, b.Matrix(p + "ffn_gate" + suffix + ".weight", ff, hidden, why));
  MOE_ASSIGN_OR_RETURN(w->up, b.Matrix(p + "ffn_up" + suffix + ".weight", ff, hidden, why));
  MOE_ASSIGN_OR_RETURN(w->down, b.Matrix(p + "ffn_down" + suffix + ".weight", hidden, ff, why));
  return Status();
}

Status BindCommon(const ModelConfig& c, Binder& b, ModelWeights* w) {
  const std::string why = fmt::format("vocab_size={}, hidden_size={}", c.vocab_size, c.hidden_size);
  MOE_ASSIGN_OR_RETURN(w->token_embd, b.Matrix("token_embd.weight", c.vocab_size, c.hidden_size, why));
  MOE_ASSIGN_OR_RETURN(w->output_norm, b.Vector("output_norm.weight", c.hidden_size, "hidden_size"));
  if (b.Has("output.weight")) {
    MOE_ASSIGN_OR_RETURN(w->output, b.Matrix("output.weight", c.vocab_size, c.hidden_size, why));
  } else {
    w->output = w->token_embd;  // tied embeddings
  }
  w->layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    MOE_ASSIGN_OR_RETURN(w->layers[l].attn_norm, b.Vector(p + "attn_norm.weight", c.hidden_size, "hidden_size"));
    MOE_ASSIGN_OR_RETURN(w->layers[l].ffn_norm, b.Vector(p + "ffn_norm.weight", c.hidden_size, "hidden_size"));
  }
  return Status();
}

Status BindLlama(const ModelConfig& c, Binder& b, ModelWeights* w) {
  MOE_RETURN_IF_ERROR(BindCommon(c, b, w));
  if (b.Has("rope_freqs.weight")) {
    MOE_ASSIGN_OR_RETURN(w->rope_freq_factors, b.Vector("rope_freqs.weight", c.rope_dim / 2, "rope dimension count / 2"));
  }
  const std::string why = fmt::format("intermediate_size={}, hidden_size={}", c.intermediate_size, c.hidden_size);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    auto& L = w->layers[l];
    L.gqa.emplace();
    MOE_RETURN_IF_ERROR(BindGqa(c, b, p, &*L.gqa));
    L.ffn.emplace();
    MOE_RETURN_IF_ERROR(BindFfn(b, p, "", c.intermediate_size, c.hidden_size, why, &*L.ffn));
  }
  return Status();
}

}  // namespace moe
