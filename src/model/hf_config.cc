// config.json / generation_config.json parsing and the folder loader. Field names are
// config.json's own; absent optional fields take the defaults of the transformers config
// classes. Every value's JSON type is checked before it is read (nlohmann's getters throw).
#include "model/hf_config.h"

#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "io/hf_folder.h"
#include "model/hf_tensor_names.h"

namespace moe {

namespace {

using nlohmann::json;

// Typed lookups in one JSON object that explain what was wrong (missing key, wrong type).
// A null value counts as absent (config.json writes "q_lora_rank": null).
class Fields {
 public:
  Fields(const json& j, const std::string& path) : j_(j), path_(path) {}

  const json* Find(const std::string& key) const {
    if (!j_.is_object()) return nullptr;
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  Result<int64_t> Int(const std::string& key) const {
    const json* v = Find(key);
    if (!v) return Status::Errorf("{}: missing field '{}'", path_, key);
    return ToInt(key, *v);
  }
  Result<int64_t> IntOr(const std::string& key, int64_t dflt) const {
    const json* v = Find(key);
    return v ? ToInt(key, *v) : Result<int64_t>(dflt);
  }
  Result<double> NumberOr(const std::string& key, double dflt) const {
    const json* v = Find(key);
    if (!v) return dflt;
    if (!v->is_number() || !std::isfinite(v->get<double>()))
      return Status::Errorf("{}: field '{}' is {}, expected a finite number", path_, key, v->dump());
    return v->get<double>();
  }
  Result<bool> BoolOr(const std::string& key, bool dflt) const {
    const json* v = Find(key);
    if (!v) return dflt;
    if (!v->is_boolean()) return Status::Errorf("{}: field '{}' is {}, expected true or false", path_, key, v->dump());
    return v->get<bool>();
  }
  Result<std::string> StringOr(const std::string& key, const std::string& dflt) const {
    const json* v = Find(key);
    if (!v) return dflt;
    if (!v->is_string()) return Status::Errorf("{}: field '{}' is {}, expected a string", path_, key, v->dump());
    return v->get<std::string>();
  }
  const std::string& path() const { return path_; }

 private:
  Result<int64_t> ToInt(const std::string& key, const json& v) const {
    if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX))
      return static_cast<int64_t>(v.get<uint64_t>());
    if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
    // Some exporters write integral sizes as floats (4096.0).
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
    }
    return Status::Errorf("{}: field '{}' is {}, expected an integer", path_, key, v.dump());
  }
  const json& j_;
  const std::string& path_;
};

// Hugging Face architecture class (or model_type) -> GGUF architecture of the family.
struct ArchName {
  const char* hf_class;
  const char* model_type;
  const char* gguf_arch;
};
constexpr ArchName kArchitectures[] = {
    {"LlamaForCausalLM", "llama", "llama"},
    {"Qwen3ForCausalLM", "qwen3", "qwen3"},
    {"Qwen3MoeForCausalLM", "qwen3_moe", "qwen3moe"},
    {"DeepseekV3ForCausalLM", "deepseek_v3", "deepseek2"},  // also Kimi K2 (model_type kimi_k2)
    {"DeepseekV3ForCausalLM", "kimi_k2", "deepseek2"},
};

Result<std::string> GgufArchitecture(const json& j, const std::string& path) {
  std::vector<std::string> seen;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array()) {
    for (const json& a : *it) {
      if (!a.is_string()) continue;
      seen.push_back(a.get<std::string>());
      for (const ArchName& n : kArchitectures)
        if (seen.back() == n.hf_class) return std::string(n.gguf_arch);
    }
  }
  if (auto it = j.find("model_type"); it != j.end() && it->is_string() && seen.empty()) {
    for (const ArchName& n : kArchitectures)
      if (it->get<std::string>() == n.model_type) return std::string(n.gguf_arch);
    seen.push_back("model_type " + it->get<std::string>());
  }
  std::vector<std::string> supported;
  for (const ArchName& n : kArchitectures)
    if (supported.empty() || supported.back() != n.hf_class) supported.push_back(n.hf_class);
  return Status::Errorf("{}: architecture {} is not supported (supported: {})", path,
                        seen.empty() ? "(none given)" : fmt::format("'{}'", fmt::join(seen, "', '")),
                        fmt::join(supported, ", "));
}

Status ParseRopeScaling(const Fields& f, ModelConfig* c) {
  const json* rs = f.Find("rope_scaling");
  if (!rs) return Status();
  if (!rs->is_object()) return Status::Errorf("{}: rope_scaling is {}, expected an object or null", f.path(), rs->dump());
  Fields r(*rs, f.path());
  // transformers renamed "type" to "rope_type"; checkpoints carry either.
  MOE_ASSIGN_OR_RETURN(std::string type, r.StringOr("rope_type", ""));
  if (type.empty()) {
    MOE_ASSIGN_OR_RETURN(type, r.StringOr("type", ""));
  }
  if (type.empty() || type == "default") return Status();
  // Llama 3.1 scaling becomes per-pair frequency divisors (HfLlama3RopeFactors), as in GGUF.
  if (type == "llama3" && c->architecture == "llama") return Status();
  auto& s = c->rope_scaling;
  s.type = type;
  MOE_ASSIGN_OR_RETURN(s.factor, r.NumberOr("factor", 1.0));
  if (type == "yarn") {
    MOE_ASSIGN_OR_RETURN(s.original_max_position_embeddings, r.Int("original_max_position_embeddings"));
    MOE_ASSIGN_OR_RETURN(s.beta_fast, r.NumberOr("beta_fast", 32.0));
    MOE_ASSIGN_OR_RETURN(s.beta_slow, r.NumberOr("beta_slow", 1.0));
    MOE_ASSIGN_OR_RETURN(s.mscale, r.NumberOr("mscale", 1.0));
    MOE_ASSIGN_OR_RETURN(s.mscale_all_dim, r.NumberOr("mscale_all_dim", 0.0));
  } else if (type != "linear") {
    return Status::Errorf("{}: rope_scaling type '{}' is not supported yet (supported: yarn, linear; llama3 for "
                          "LlamaForCausalLM)", f.path(), type);
  }
  return Status();
}

// Fields shared by the decoder families (LlamaConfig names).
Status ParseCommon(const Fields& f, ModelConfig* c) {
  MOE_ASSIGN_OR_RETURN(c->vocab_size, f.Int("vocab_size"));
  MOE_ASSIGN_OR_RETURN(c->hidden_size, f.Int("hidden_size"));
  MOE_ASSIGN_OR_RETURN(c->intermediate_size, f.IntOr("intermediate_size", 0));
  MOE_ASSIGN_OR_RETURN(c->num_hidden_layers, f.Int("num_hidden_layers"));
  MOE_ASSIGN_OR_RETURN(c->num_attention_heads, f.Int("num_attention_heads"));
  if (c->num_attention_heads <= 0 || c->num_attention_heads > 1024)
    return Status::Errorf("{}: num_attention_heads = {} is out of range (1..1024)", f.path(), c->num_attention_heads);
  MOE_ASSIGN_OR_RETURN(c->num_key_value_heads, f.IntOr("num_key_value_heads", c->num_attention_heads));
  MOE_ASSIGN_OR_RETURN(c->head_dim, f.IntOr("head_dim", c->hidden_size / c->num_attention_heads));
  MOE_ASSIGN_OR_RETURN(c->max_position_embeddings, f.IntOr("max_position_embeddings", 4096));
  MOE_ASSIGN_OR_RETURN(c->rms_norm_eps, f.NumberOr("rms_norm_eps", 1e-6));
  MOE_ASSIGN_OR_RETURN(c->rope_theta, f.NumberOr("rope_theta", 10000.0));
  MOE_ASSIGN_OR_RETURN(double partial, f.NumberOr("partial_rotary_factor", 1.0));
  if (!(partial > 0 && partial <= 1))
    return Status::Errorf("{}: partial_rotary_factor = {} is out of range (0, 1]", f.path(), partial);
  c->rope_dim = static_cast<int64_t>(std::llround(static_cast<double>(c->head_dim) * partial));
  MOE_RETURN_IF_ERROR(ParseRopeScaling(f, c));
  MOE_ASSIGN_OR_RETURN(std::string act, f.StringOr("hidden_act", "silu"));
  if (act != "silu")
    return Status::Errorf("{}: hidden_act '{}' is not supported (only silu / SwiGLU)", f.path(), act);
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    MOE_ASSIGN_OR_RETURN(bool has, f.BoolOr(bias, false));
    if (has) return Status::Errorf("{}: {} = true is not supported yet (no bias tensors are bound)", f.path(), bias);
  }
  MOE_ASSIGN_OR_RETURN(bool sliding, f.BoolOr("use_sliding_window", false));
  if (sliding) return Status::Errorf("{}: use_sliding_window = true is not supported yet", f.path());
  return Status();
}

Status ParseQwen3MoeFields(const Fields& f, ModelConfig* c) {
  MOE_ASSIGN_OR_RETURN(c->num_experts, f.Int("num_experts"));
  MOE_ASSIGN_OR_RETURN(c->num_experts_per_tok, f.Int("num_experts_per_tok"));
  MOE_ASSIGN_OR_RETURN(c->moe_intermediate_size, f.Int("moe_intermediate_size"));
  MOE_ASSIGN_OR_RETURN(c->norm_topk_prob, f.BoolOr("norm_topk_prob", false));
  c->scoring_func = Scoring::kSoftmax;
  // Qwen3MoeDecoderLayer: sparse iff layer not in mlp_only_layers and (layer+1) % step == 0.
  MOE_ASSIGN_OR_RETURN(int64_t step, f.IntOr("decoder_sparse_step", 1));
  if (step != 1)
    return Status::Errorf("{}: decoder_sparse_step = {} is not supported yet (every layer must be MoE, step 1)",
                          f.path(), step);
  if (const json* m = f.Find("mlp_only_layers"); m && !(m->is_array() && m->empty()))
    return Status::Errorf("{}: mlp_only_layers = {} is not supported yet (every layer must be MoE)", f.path(),
                          m->dump());
  return Status();
}

Status ParseDeepseekFields(const Fields& f, ModelConfig* c) {
  MOE_ASSIGN_OR_RETURN(c->q_lora_rank, f.IntOr("q_lora_rank", 0));
  MOE_ASSIGN_OR_RETURN(c->kv_lora_rank, f.Int("kv_lora_rank"));
  MOE_ASSIGN_OR_RETURN(c->qk_nope_head_dim, f.Int("qk_nope_head_dim"));
  MOE_ASSIGN_OR_RETURN(c->qk_rope_head_dim, f.Int("qk_rope_head_dim"));
  MOE_ASSIGN_OR_RETURN(c->v_head_dim, f.Int("v_head_dim"));
  // As the GGUF conversion does: every head has its own latent key, key = nope ++ rope.
  c->num_key_value_heads = c->num_attention_heads;
  c->head_dim = c->qk_nope_head_dim + c->qk_rope_head_dim;
  c->rope_dim = c->qk_rope_head_dim;
  MOE_ASSIGN_OR_RETURN(c->num_experts, f.Int("n_routed_experts"));
  MOE_ASSIGN_OR_RETURN(c->num_experts_per_tok, f.Int("num_experts_per_tok"));
  MOE_ASSIGN_OR_RETURN(c->moe_intermediate_size, f.Int("moe_intermediate_size"));
  MOE_ASSIGN_OR_RETURN(c->n_shared_experts, f.IntOr("n_shared_experts", 0));
  MOE_ASSIGN_OR_RETURN(c->first_k_dense_replace, f.IntOr("first_k_dense_replace", 0));
  MOE_ASSIGN_OR_RETURN(c->n_group, f.IntOr("n_group", 1));
  MOE_ASSIGN_OR_RETURN(c->topk_group, f.IntOr("topk_group", 1));
  MOE_ASSIGN_OR_RETURN(c->norm_topk_prob, f.BoolOr("norm_topk_prob", false));
  MOE_ASSIGN_OR_RETURN(c->routed_scaling_factor, f.NumberOr("routed_scaling_factor", 1.0));
  MOE_ASSIGN_OR_RETURN(std::string scoring, f.StringOr("scoring_func", "sigmoid"));
  if (scoring == "sigmoid") c->scoring_func = Scoring::kSigmoid;
  else if (scoring == "softmax") c->scoring_func = Scoring::kSoftmax;
  else return Status::Errorf("{}: scoring_func '{}' is not supported (sigmoid, softmax)", f.path(), scoring);
  MOE_ASSIGN_OR_RETURN(std::string topk_method, f.StringOr("topk_method", "noaux_tc"));
  if (topk_method == "greedy") {
    c->n_group = c->topk_group = 1;  // plain top-k over all experts
  } else if (topk_method != "noaux_tc") {
    return Status::Errorf("{}: topk_method '{}' is not supported yet (noaux_tc, greedy)", f.path(), topk_method);
  }
  MOE_ASSIGN_OR_RETURN(int64_t freq, f.IntOr("moe_layer_freq", 1));
  if (freq != 1)
    return Status::Errorf("{}: moe_layer_freq = {} is not supported yet (every layer after first_k_dense_replace "
                          "must be MoE)", f.path(), freq);
  return Status();
}

}  // namespace

Result<ModelConfig> ParseHfConfig(const json& j, const std::string& path) {
  if (!j.is_object()) return Status::Errorf("{}: expected a JSON object", path);
  Fields f(j, path);
  ModelConfig c;
  MOE_ASSIGN_OR_RETURN(c.architecture, GgufArchitecture(j, path));
  MOE_ASSIGN_OR_RETURN(c.name, f.StringOr("_name_or_path", ""));
  MOE_RETURN_IF_ERROR(ParseCommon(f, &c));
  if (c.architecture == "llama") {
    c.rope_halves = true;  // HF keeps q/k unpermuted: rotate the two halves of each head
  } else if (c.architecture == "qwen3") {
    c.qk_norm = c.rope_halves = true;
  } else if (c.architecture == "qwen3moe") {
    c.qk_norm = c.rope_halves = true;
    MOE_RETURN_IF_ERROR(ParseQwen3MoeFields(f, &c));
  } else if (c.architecture == "deepseek2") {
    MOE_RETURN_IF_ERROR(ParseDeepseekFields(f, &c));
  }
  return c;
}

Result<std::vector<float>> HfLlama3RopeFactors(const json& config, const ModelConfig& c, const std::string& path) {
  std::vector<float> out;
  const json* rs = Fields(config, path).Find("rope_scaling");
  if (!rs || !rs->is_object() || c.architecture != "llama") return out;
  Fields r(*rs, path);
  MOE_ASSIGN_OR_RETURN(std::string type, r.StringOr("rope_type", ""));
  if (type.empty()) {
    MOE_ASSIGN_OR_RETURN(type, r.StringOr("type", ""));
  }
  if (type != "llama3") return out;
  // transformers _compute_llama3_parameters (and llama.cpp's converter): pairs whose
  // wavelength exceeds original_max_position_embeddings / low_freq_factor are slowed by
  // `factor`, those shorter than ... / high_freq_factor are kept, with a smooth ramp between.
  MOE_ASSIGN_OR_RETURN(double factor, r.NumberOr("factor", 8.0));
  MOE_ASSIGN_OR_RETURN(double low, r.NumberOr("low_freq_factor", 1.0));
  MOE_ASSIGN_OR_RETURN(double high, r.NumberOr("high_freq_factor", 4.0));
  MOE_ASSIGN_OR_RETURN(int64_t old_ctx, r.IntOr("original_max_position_embeddings", 8192));
  if (!(factor >= 1) || !(low > 0) || !(high > low) || old_ctx <= 0)
    return Status::Errorf("{}: llama3 rope_scaling needs factor >= 1, 0 < low_freq_factor < high_freq_factor and "
                          "original_max_position_embeddings > 0", path);
  const double low_wavelen = static_cast<double>(old_ctx) / low, high_wavelen = static_cast<double>(old_ctx) / high;
  const int64_t dims = c.rope_dim;
  for (int64_t i = 0; i + 1 < dims; i += 2) {
    const double freq = std::pow(c.rope_theta, -static_cast<double>(i) / static_cast<double>(dims));
    const double wavelen = 2 * M_PI / freq;
    double f = 1.0;
    if (wavelen > low_wavelen) {
      f = factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (static_cast<double>(old_ctx) / wavelen - low) / (high - low);
      f = 1.0 / ((1 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

Result<HfGenerationConfig> ParseHfGenerationConfig(const json& generation, const std::string& generation_path,
                                                   const json& config, const std::string& config_path) {
  HfGenerationConfig g;
  Fields gen(generation, generation_path), cfg(config, config_path);
  auto token_ids = [&](const Fields& f) -> Result<std::vector<int64_t>> {
    std::vector<int64_t> ids;
    const json* v = f.Find("eos_token_id");
    if (!v) return ids;
    if (v->is_array()) {
      for (size_t i = 0; i < v->size() && i < 1024; ++i) {
        const json one_id = {{"eos_token_id", (*v)[i]}};
        Fields one(one_id, f.path());
        MOE_ASSIGN_OR_RETURN(int64_t id, one.Int("eos_token_id"));
        ids.push_back(id);
      }
    } else {
      MOE_ASSIGN_OR_RETURN(int64_t id, f.Int("eos_token_id"));
      ids.push_back(id);
    }
    for (int64_t id : ids)
      if (id < 0) return Status::Errorf("{}: eos_token_id {} is negative", f.path(), id);
    return ids;
  };
  MOE_ASSIGN_OR_RETURN(g.eos_token_ids, token_ids(gen));
  if (g.eos_token_ids.empty()) {
    MOE_ASSIGN_OR_RETURN(g.eos_token_ids, token_ids(cfg));
  }
  for (const Fields* f : {&gen, &cfg}) {
    if (g.bos_token_id || !f->Find("bos_token_id")) continue;
    MOE_ASSIGN_OR_RETURN(int64_t bos, f->Int("bos_token_id"));
    g.bos_token_id = bos;
  }
  if (gen.Find("temperature")) {
    MOE_ASSIGN_OR_RETURN(g.temperature, gen.NumberOr("temperature", 1.0));
  }
  if (gen.Find("top_p")) {
    MOE_ASSIGN_OR_RETURN(g.top_p, gen.NumberOr("top_p", 1.0));
  }
  if (gen.Find("top_k")) {
    MOE_ASSIGN_OR_RETURN(g.top_k, gen.IntOr("top_k", 0));
  }
  return g;
}

}  // namespace moe
