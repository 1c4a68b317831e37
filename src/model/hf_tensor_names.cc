// The rename tables from Hugging Face module paths to llama.cpp's GGUF tensor names, per
// family, applied in both directions. Per-expert tensors keep their index
// (blk.L.ffn_gate_exps.E.weight), which Binder::Experts accepts in place of one stacked tensor.
#include "model/hf_tensor_names.h"

#include <span>
#include <string_view>
#include <vector>

namespace moe {

namespace {

// `hf` is either a whole name (exact) or a module path whose ".<suffix>" is carried over to
// `gguf` + ".<suffix>". '*' stands for the expert index.
struct Rule {
  std::string_view hf, gguf;
  bool exact = false;
};

constexpr Rule kGlobal[] = {
    {"model.embed_tokens", "token_embd"}, {"model.norm", "output_norm"}, {"lm_head", "output"}};
constexpr Rule kNorms[] = {{"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"}};
constexpr Rule kIgnored[] = {{"self_attn.rotary_emb.inv_freq", "", true}};
constexpr Rule kGqa[] = {{"self_attn.q_proj", "attn_q"},
                         {"self_attn.k_proj", "attn_k"},
                         {"self_attn.v_proj", "attn_v"},
                         {"self_attn.o_proj", "attn_output"}};
constexpr Rule kQkNorm[] = {{"self_attn.q_norm", "attn_q_norm"}, {"self_attn.k_norm", "attn_k_norm"}};
constexpr Rule kMla[] = {{"self_attn.q_a_proj", "attn_q_a"},
                         {"self_attn.q_a_layernorm", "attn_q_a_norm"},
                         {"self_attn.q_b_proj", "attn_q_b"},
                         {"self_attn.q_proj", "attn_q"},  // q_lora_rank = null (V2-Lite style)
                         {"self_attn.kv_a_proj_with_mqa", "attn_kv_a_mqa"},
                         {"self_attn.kv_a_layernorm", "attn_kv_a_norm"},
                         {"self_attn.kv_b_proj", "attn_kv_b"},
                         {"self_attn.o_proj", "attn_output"}};
constexpr Rule kDenseFfn[] = {
    {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"}, {"mlp.down_proj", "ffn_down"}};
constexpr Rule kRoutedExperts[] = {{"mlp.gate.weight", "ffn_gate_inp.weight", true},
                                   {"mlp.experts.*.gate_proj", "ffn_gate_exps.*"},
                                   {"mlp.experts.*.up_proj", "ffn_up_exps.*"},
                                   {"mlp.experts.*.down_proj", "ffn_down_exps.*"}};
constexpr Rule kRouterBias[] = {{"mlp.gate.e_score_correction_bias", "exp_probs_b.bias", true}};
constexpr Rule kSharedExperts[] = {{"mlp.shared_experts.gate_proj", "ffn_gate_shexp"},
                                   {"mlp.shared_experts.up_proj", "ffn_up_shexp"},
                                   {"mlp.shared_experts.down_proj", "ffn_down_shexp"}};

// The per-layer rules of each family.
std::vector<std::span<const Rule>> LayerRules(const std::string& arch) {
  if (arch == "llama") return {kNorms, kIgnored, kGqa, kDenseFfn};
  if (arch == "qwen3") return {kNorms, kGqa, kQkNorm, kDenseFfn};
  if (arch == "qwen3moe") return {kNorms, kGqa, kQkNorm, kRoutedExperts};
  if (arch == "deepseek2") return {kNorms, kMla, kDenseFfn, kRoutedExperts, kRouterBias, kSharedExperts};
  return {};
}

// Parses a decimal index (no sign, no leading zeros, at most 7 digits) at the start of `s`
// up to the next '.', and drops it and the dot from `s`.
bool TakeIndex(std::string_view* s, int64_t* out) {
  size_t dot = s->find('.');
  if (dot == 0 || dot == std::string_view::npos || dot > 7) return false;
  if (dot > 1 && (*s)[0] == '0') return false;
  int64_t v = 0;
  for (size_t i = 0; i < dot; ++i) {
    char c = (*s)[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  s->remove_prefix(dot + 1);
  return true;
}

// Applies the first matching rule; `name` has the layer and expert prefix already removed
// ('*' in place of the expert index).
bool Apply(std::span<const Rule> rules, std::string_view name, std::string* out) {
  for (const Rule& r : rules) {
    if (r.exact) {
      if (name != r.hf) continue;
      *out = std::string(r.gguf);
      return true;
    }
    if (name.size() <= r.hf.size() + 1 || name.substr(0, r.hf.size()) != r.hf || name[r.hf.size()] != '.')
      continue;
    std::string_view suffix = name.substr(r.hf.size() + 1);
    if (suffix.find('.') != std::string_view::npos) continue;
    *out = std::string(r.gguf) + "." + std::string(suffix);
    return true;
  }
  return false;
}

// Applies the first rule whose GGUF side matches `name` (layer prefix removed, '*' in place of
// the expert index), the mirror of Apply.
bool ApplyReverse(std::span<const Rule> rules, std::string_view name, std::string* out) {
  for (const Rule& r : rules) {
    if (r.gguf.empty()) continue;  // ignored buffers have no GGUF side
    if (r.exact) {
      if (name != r.gguf) continue;
      *out = std::string(r.hf);
      return true;
    }
    if (name.size() <= r.gguf.size() + 1 || name.substr(0, r.gguf.size()) != r.gguf || name[r.gguf.size()] != '.')
      continue;
    std::string_view suffix = name.substr(r.gguf.size() + 1);
    if (suffix.find('.') != std::string_view::npos) continue;
    *out = std::string(r.hf) + "." + std::string(suffix);
    return true;
  }
  return false;
}

}  // namespace

std::string GgufToHfTensorName(const std::string& gguf_arch, const std::string& gguf_name) {
  std::string_view name = gguf_name;
  std::string hf;
  constexpr std::string_view kBlk = "blk.";
  if (name.substr(0, kBlk.size()) != kBlk) return ApplyReverse(kGlobal, name, &hf) ? hf : "";
  name.remove_prefix(kBlk.size());
  int64_t layer = -1, expert = -1;
  if (!TakeIndex(&name, &layer)) return "";
  // An expert index is the component after "<module>_exps." (blk.L.ffn_up_exps.E.weight).
  std::string rest(name);
  constexpr std::string_view kExps = "_exps.";
  if (size_t at = name.find(kExps); at != std::string_view::npos) {
    std::string_view after = name.substr(at + kExps.size());
    if (!TakeIndex(&after, &expert)) return "";
    rest = std::string(name.substr(0, at + kExps.size())) + "*." + std::string(after);
  }
  bool found = false;
  for (std::span<const Rule> rules : LayerRules(gguf_arch))
    if ((found = ApplyReverse(rules, rest, &hf))) break;
  if (!found) return "";
  if (size_t star = hf.find('*'); star != std::string::npos) hf.replace(star, 1, std::to_string(expert));
  return "model.layers." + std::to_string(layer) + "." + hf;
}

HfNameMatch MapHfTensorName(const std::string& gguf_arch, const std::string& hf_name) {
  HfNameMatch m;
  std::string_view name = hf_name;
  constexpr std::string_view kLayers = "model.layers.";
  if (name.substr(0, kLayers.size()) != kLayers) {
    if (Apply(kGlobal, name, &m.gguf)) m.kind = HfNameMatch::Kind::kMapped;
    return m;
  }
  name.remove_prefix(kLayers.size());
  if (!TakeIndex(&name, &m.layer)) {
    m.layer = -1;
    return m;
  }
  std::string rest(name);
  constexpr std::string_view kExperts = "mlp.experts.";
  if (name.substr(0, kExperts.size()) == kExperts) {
    std::string_view after = name.substr(kExperts.size());
    if (!TakeIndex(&after, &m.expert)) return m;
    rest = std::string(kExperts) + "*." + std::string(after);
  }
  std::string mapped;
  bool found = false;
  for (std::span<const Rule> rules : LayerRules(gguf_arch)) {
    if (Apply(rules, rest, &mapped)) {
      found = true;
      break;
    }
  }
  if (!found) return m;
  if (mapped.empty()) {
    m.kind = HfNameMatch::Kind::kIgnored;
    return m;
  }
  if (size_t star = mapped.find('*'); star != std::string::npos)
    mapped.replace(star, 1, std::to_string(m.expert));
  m.gguf = "blk." + std::to_string(m.layer) + "." + mapped;
  m.kind = HfNameMatch::Kind::kMapped;
  return m;
}

}  // namespace moe
