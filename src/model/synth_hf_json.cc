// The JSON files of a synth Hugging Face folder: config.json from the preset's ModelConfig
// (the fields model/hf_config.cc reads back), generation_config.json, and the tokenizer of the
// GGUF synth models (BuildSynthVocab) as tokenizer.json + tokenizer_config.json.
#include "model/synth_hf_json.h"

#include "tokenizer/pretokenizer.h"

namespace moe {

using nlohmann::ordered_json;

namespace {

// Hugging Face class and model_type of each family synth writes (inverse of hf_config.cc's
// kArchitectures for these).
struct HfArch {
  const char* gguf_arch;
  const char* hf_class;
  const char* model_type;
};
constexpr HfArch kHfArchs[] = {{"llama", "LlamaForCausalLM", "llama"},
                               {"qwen3moe", "Qwen3MoeForCausalLM", "qwen3_moe"},
                               {"deepseek2", "DeepseekV3ForCausalLM", "deepseek_v3"}};

const char* TorchDtype(DType t) {
  return t == DType::kF32 ? "float32" : t == DType::kF16 ? "float16" : "bfloat16";  // bf16, and f8's others
}

}  // namespace

Result<ordered_json> SynthHfConfigJson(const ModelConfig& c, DType type, const SynthVocab& v) {
  const HfArch* arch = nullptr;
  for (const HfArch& a : kHfArchs)
    if (c.architecture == a.gguf_arch) arch = &a;
  if (!arch) return Status::Errorf("synth: no Hugging Face architecture for '{}'", c.architecture);
  ordered_json j;
  j["architectures"] = {arch->hf_class};
  j["model_type"] = arch->model_type;
  j["_name_or_path"] = c.name;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  if (c.intermediate_size) j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  if (!c.is_mla()) {
    j["head_dim"] = c.head_dim;
    if (c.rope_dim != c.head_dim)
      j["partial_rotary_factor"] = static_cast<double>(c.rope_dim) / static_cast<double>(c.head_dim);
  }
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling.type == "yarn") {
    const RopeScaling& s = c.rope_scaling;
    j["rope_scaling"] = {{"type", "yarn"},
                         {"factor", s.factor},
                         {"original_max_position_embeddings", s.original_max_position_embeddings},
                         {"beta_fast", s.beta_fast},
                         {"beta_slow", s.beta_slow},
                         {"mscale", s.mscale},
                         {"mscale_all_dim", s.mscale_all_dim}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["tie_word_embeddings"] = false;
  if (c.is_mla()) {
    j["q_lora_rank"] = c.q_lora_rank ? ordered_json(c.q_lora_rank) : ordered_json(nullptr);
    j["kv_lora_rank"] = c.kv_lora_rank;
    j["qk_nope_head_dim"] = c.qk_nope_head_dim;
    j["qk_rope_head_dim"] = c.qk_rope_head_dim;
    j["v_head_dim"] = c.v_head_dim;
    j["n_routed_experts"] = c.num_experts;
    j["n_shared_experts"] = c.n_shared_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["first_k_dense_replace"] = c.first_k_dense_replace;
    j["moe_layer_freq"] = 1;
    j["n_group"] = c.n_group;
    j["topk_group"] = c.topk_group;
    j["topk_method"] = "noaux_tc";
    j["scoring_func"] = c.scoring_func == Scoring::kSigmoid ? "sigmoid" : "softmax";
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["routed_scaling_factor"] = c.routed_scaling_factor;
    j["num_nextn_predict_layers"] = 0;
  } else if (c.is_moe()) {
    j["num_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["decoder_sparse_step"] = 1;
    j["mlp_only_layers"] = ordered_json::array();
    j["use_sliding_window"] = false;
  }
  j["bos_token_id"] = v.bos;
  j["eos_token_id"] = v.eos;
  j["torch_dtype"] = TorchDtype(type);
  if (type == DType::kF8E4M3)
    j["quantization_config"] = {{"quant_method", "fp8"},
                                {"fmt", "e4m3"},
                                {"weight_block_size", {kF8Block, kF8Block}},
                                {"activation_scheme", "dynamic"}};
  return j;
}

ordered_json SynthHfGenerationConfigJson(const SynthVocab& v) {
  return {{"bos_token_id", v.bos}, {"eos_token_id", v.eos}};
}

ordered_json SynthHfTokenizerJson(const ModelConfig& c, const SynthVocab& v) {
  // The pre-tokenizer the GGUF names (tokenizer.ggml.pre), spelled as Hugging Face does: one
  // Split per regex, then ByteLevel without its own regex.
  const PreTokenizerPreset pre = PreTokenizerForName(GgufTokenizerPre(c));
  ordered_json splits = ordered_json::array();
  for (const std::string& p : pre.patterns)
    splits.push_back({{"type", "Split"}, {"pattern", {{"Regex", p}}}, {"behavior", "Isolated"}, {"invert", false}});
  splits.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});
  // Every token is in the BPE vocabulary (as GPT-2's <|endoftext|> is), so that ids stay dense
  // when reserved fillers outnumber the learned tokens (bench: 656 of 32000; readers bound ids
  // by the vocabulary's size). Tokens other than bytes and merges are also added tokens:
  // control tokens (type 3) special, user-defined ones (type 4: <think>) not.
  // Appended in id order without a lookup (ordered_json finds keys by linear search, which
  // is quadratic over 32000 tokens); BuildSynthVocab's tokens are distinct.
  ordered_json vocab = ordered_json::object(), added = ordered_json::array();
  auto& entries = vocab.get_ref<ordered_json::object_t&>();
  entries.reserve(v.tokens.size());
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    entries.emplace_back(v.tokens[id], id);
    if (v.token_types[id] == 1) continue;
    added.push_back({{"id", id}, {"content", v.tokens[id]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", v.token_types[id] == 3}});
  }
  const std::string& bos = v.tokens[static_cast<size_t>(v.bos)];
  ordered_json t;
  t["version"] = "1.0";
  t["truncation"] = nullptr;
  t["padding"] = nullptr;
  t["added_tokens"] = std::move(added);
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", std::move(splits)}};
  t["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair",
       {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
        {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
        {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
      {"special_tokens", {{bos, {{"id", bos}, {"ids", {v.bos}}, {"tokens", {bos}}}}}}};
  t["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  t["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", pre.ignore_merges},
                {"vocab", std::move(vocab)},
                {"merges", v.merges}};
  return t;
}

ordered_json SynthHfTokenizerConfigJson(const ModelConfig& c, const SynthVocab& v) {
  return {{"add_bos_token", true},
          {"add_eos_token", false},
          {"bos_token", v.tokens[static_cast<size_t>(v.bos)]},
          {"eos_token", v.tokens[static_cast<size_t>(v.eos)]},
          {"pad_token", nullptr},
          {"clean_up_tokenization_spaces", false},
          {"model_max_length", c.max_position_embeddings},
          {"tokenizer_class", "PreTrainedTokenizerFast"},
          {"chat_template", kChatMlTemplate}};
}

}  // namespace moe
