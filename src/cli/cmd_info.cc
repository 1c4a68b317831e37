// `moe info`: what a model file is — family, hyperparameters, parameters (total and active
// per token), bytes per dtype, memory for weights and KV cache — for people or, with
// --json, for programs.
#include <fmt/format.h>
#include <hwy/targets.h>

#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace moe::cli {

namespace {

nlohmann::json ConfigJson(const ModelConfig& c) {
  nlohmann::json j = {
      {"architecture", c.architecture}, {"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
      {"num_hidden_layers", c.num_hidden_layers}, {"num_attention_heads", c.num_attention_heads},
      {"max_position_embeddings", c.max_position_embeddings}, {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope_theta}};
  if (c.intermediate_size) j["intermediate_size"] = c.intermediate_size;
  if (c.is_mla()) {
    j["q_lora_rank"] = c.q_lora_rank;
    j["kv_lora_rank"] = c.kv_lora_rank;
    j["qk_nope_head_dim"] = c.qk_nope_head_dim;
    j["qk_rope_head_dim"] = c.qk_rope_head_dim;
    j["v_head_dim"] = c.v_head_dim;
  } else {
    j["num_key_value_heads"] = c.num_key_value_heads;
    j["head_dim"] = c.head_dim;
  }
  if (c.is_moe()) {
    j["num_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["n_shared_experts"] = c.n_shared_experts;
    j["first_k_dense_replace"] = c.first_k_dense_replace;
    j["n_group"] = c.n_group;
    j["topk_group"] = c.topk_group;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["routed_scaling_factor"] = c.routed_scaling_factor;
    j["scoring_func"] = c.scoring_func == Scoring::kSigmoid ? "sigmoid" : "softmax";
  }
  if (!c.rope_scaling.type.empty())
    j["rope_scaling"] = {{"type", c.rope_scaling.type}, {"factor", c.rope_scaling.factor},
                         {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings},
                         {"mscale_all_dim", c.rope_scaling.mscale_all_dim}};
  return j;
}

// The Highway target dynamic dispatch picks: the best (lowest bit) compiled and supported.
const char* SimdTarget() {
  int64_t t = hwy::SupportedTargets() & HWY_TARGETS;
  return hwy::TargetName(t & -t);
}

std::string Human(double v, const char* unit) {
  const char* prefixes[] = {"", "K", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  return fmt::format("{:.2f} {}{}", v, prefixes[i], unit);
}

}  // namespace

void RegisterInfo(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("info", "describe a model: family, sizes, parameters, memory");
  auto f = std::make_shared<CommonFlags>();
  auto json = std::make_shared<bool>(false);
  AddModelFlags(cmd, f.get());
  cmd->add_flag("--json", *json, "print JSON");
  out->push_back({cmd, [=]() {
    f->repack = "none";  // describing the weights needs no tiles (they would copy every mapped page)
    auto model = LoadModel(*f);
    if (!model.ok()) return Fail(model.status());
    const Model& m = **model;
    const ModelConfig& c = m.config();
    const ParamStats& s = m.stats();
    const uint64_t kv_per_1k = m.KvBytesPerToken() * 1024;
    nlohmann::json j;
    j["file"] = f->model;
    j["name"] = c.name;
    j["family"] = c.architecture;
    j["config"] = ConfigJson(c);
    j["parameters"] = {{"total", s.total}, {"active_per_token", s.active_per_token}};
    j["bytes_by_dtype"] = nlohmann::json::object();
    for (auto& [d, b] : s.bytes_by_dtype) j["bytes_by_dtype"][d] = b;
    j["memory"] = {{"weights_bytes", s.weight_bytes}, {"active_weight_bytes_per_token", s.active_bytes_per_token},
                   {"kv_cache_bytes_per_1k_tokens", kv_per_1k}, {"kv_cache_type", DTypeName(m.kv_type())}};
    j["simd_target"] = SimdTarget();
    j["unused_tensors"] = m.unused_tensors();
    j["notes"] = m.notes();
    if (*json) {
      fmt::print("{}\n", j.dump(2));
      return 0;
    }
    fmt::print("{}  ({})\n", f->model, c.name);
    fmt::print("  family            {}\n", c.architecture);
    for (auto& [k, v] : j["config"].items())
      if (k != "architecture") fmt::print("  {:<26}{}\n", k, v.dump());
    fmt::print("  parameters        {} total, {} active per token\n", Human(s.total, ""), Human(s.active_per_token, ""));
    for (auto& [d, b] : s.bytes_by_dtype) fmt::print("  {:<18}{}\n", d, Human(b, "B"));
    fmt::print("  weights           {} ({} read per token)\n", Human(s.weight_bytes, "B"), Human(s.active_bytes_per_token, "B"));
    fmt::print("  KV cache          {} per 1k tokens ({})\n", Human(kv_per_1k, "B"), DTypeName(m.kv_type()));
    fmt::print("  SIMD target       {}\n", SimdTarget());
    for (const std::string& n : m.notes()) fmt::print("  note              {}\n", n);
    if (!m.unused_tensors().empty())
      fmt::print("  unused tensors    {} (e.g. {})\n", m.unused_tensors().size(), m.unused_tensors().front());
    return 0;
  }});
}

}  // namespace moe::cli
