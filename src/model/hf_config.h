// Hugging Face model folders: config.json -> ModelConfig for the supported architectures
// (LlamaForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, DeepseekV3ForCausalLM incl.
// Kimi K2), generation_config.json defaults, and the safetensors weights renamed to the
// GGUF-style names the family binders use (hf_tensor_names.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "io/mapped_file.h"
#include "io/tensor_catalog.h"
#include "model/config.h"

namespace moe {

// Defaults from generation_config.json (falling back to config.json for the token ids).
struct HfGenerationConfig {
  std::vector<int64_t> eos_token_ids;  // eos_token_id: an int or a list
  std::optional<int64_t> bos_token_id;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
};

struct HfCheckpoint {
  ModelConfig config;                 // architecture is the GGUF name (llama, qwen3moe, ...)
  // GGUF-style names; unknown tensors keep their HF names. Llama 3.1 rope scaling adds a
  // computed rope_freqs.weight (F32, in memory), as the GGUF conversion would.
  TensorCatalog catalog;
  nlohmann::json config_json;         // config.json as read
  nlohmann::json generation_config;   // generation_config.json, or an empty object
  HfGenerationConfig generation;
  std::vector<std::string> notes;     // skipped MTP layers, unknown tensors, computed rope_freqs, ...
  std::string dir;
};

// config.json -> ModelConfig; `path` names the file in errors. Does not call Validate().
Result<ModelConfig> ParseHfConfig(const nlohmann::json& config, const std::string& path);
// Llama 3.1 rope_scaling ({"rope_type": "llama3", factor, low_freq_factor, high_freq_factor,
// original_max_position_embeddings}) as per-pair frequency divisors [rope_dim / 2], the
// rope_freqs.weight tensor llama.cpp's converter writes; empty when the config has none.
Result<std::vector<float>> HfLlama3RopeFactors(const nlohmann::json& config, const ModelConfig& c,
                                               const std::string& path);
// generation_config.json (may be an empty object) with config.json as the fallback.
Result<HfGenerationConfig> ParseHfGenerationConfig(const nlohmann::json& generation,
                                                   const std::string& generation_path,
                                                   const nlohmann::json& config, const std::string& config_path);

// Reads config.json, generation_config.json (optional) and the safetensors weights of `dir`.
Result<HfCheckpoint> LoadHfFolder(const std::string& dir, const LoadOptions& opts = {});

}  // namespace moe
