// `moe synth`: random-weight checkpoints in real architectures, written as GGUF that other
// readers accept, with a working byte-level BPE tokenizer and a chat template, for demos,
// tests and benchmarks. The `bench` presets have fixed shapes so results compare across
// engines (see docs/models.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "tensor/dtype.h"

namespace moe {

// ChatML: the chat template synth models carry, and the documented default for models
// whose metadata has none.
inline constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

struct SynthOptions {
  std::string arch = "deepseek-v3";  // llama | qwen3moe | deepseek-v3
  std::string preset = "tiny";       // tiny | small | bench
  // GGUF: f32 | f16 | bf16 | q8_0 for 2-D weights; norms, router and bias stay F32.
  // Hugging Face folders (model/synth_hf.h): f32 | f16 | bf16 | f8 (see there).
  DType type = DType::kF32;
  uint64_t seed = 1;
  bool progress = false;
  bool no_data = false;  // tensors left as sparse holes (zeros): shapes only, for tests of `moe info`
  // deepseek-v3 GGUF: each layer's attn_kv_b written in the split form of newer llama.cpp
  // conversions, attn_k_b [heads, kv_lora_rank, nope] (W_UK transposed per head) and attn_v_b
  // [heads, v, kv_lora_rank], from the same values (a twin of the unsplit model).
  bool split_kv_b = false;
  uint64_t shard_bytes = 4'000'000'000;  // Hugging Face folders: most bytes per safetensors shard
};

std::vector<std::string> SynthArchs();
std::vector<std::string> SynthPresets();

// The config a preset stands for (validated).
Result<ModelConfig> SynthConfig(const std::string& arch, const std::string& preset);

// Writes the model to `path` as GGUF.
Status SynthesizeModel(const SynthOptions& opts, const std::string& path);

// What a synth tensor is for; Hugging Face folders choose storage types by it (FP8 checkpoints
// keep the embeddings, the output head, norms and the router in BF16).
enum class SynthRole { kEmbedding, kOutput, kNorm, kLinear, kRouter, kRouterBias };

// One tensor of a synth model in GGUF layout: PyTorch-order shape, routed experts stacked
// [n_expert, rows, cols] with expert e's row r at row e * rows + r.
struct SynthTensor {
  std::string name;  // GGUF name (blk.3.ffn_up_exps.weight)
  std::vector<uint64_t> shape;
  DType type;        // GGUF storage type
  SynthRole role;
  float stddev;      // uniform values with this standard deviation ...
  float mean;        // ... around this mean (norms: 1, others 0)
};

// Every tensor of the model of config `c`, in GGUF file order; 2-D weights of type t.
std::vector<SynthTensor> PlanSynthTensors(const ModelConfig& c, DType t);

// Row `row` (of all rows, experts stacked) of plan entry `index` as float32, before rounding to
// a storage type. Each row has its own random stream seeded by (seed, index, row), so values do
// not depend on the thread count, and a file written in another layout (Hugging Face: experts
// apart, llama's q/k rows unpermuted) gets the same values by asking for the same rows.
void SynthRow(uint64_t seed, size_t index, const SynthTensor& t, uint64_t row, float* out);

class GgufWriter;
// The general.* and <arch>.* GGUF keys of a config (what model/gguf_config.cc reads back),
// weights of type t; shared by `moe synth` and `moe convert`.
void WriteArchMetadata(const ModelConfig& c, DType t, GgufWriter& w);
// tokenizer.ggml.pre for a family's BPE pre-tokenizer.
std::string GgufTokenizerPre(const ModelConfig& c);

// The tokenizer vocabulary of synth models: 256 byte tokens (GPT-2 byte-to-unicode),
// merges learned from a built-in text, special tokens, reserved fillers up to vocab_size.
struct SynthVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;
  std::vector<std::string> merges;
  int32_t bos = 0, eos = 0;
};
SynthVocab BuildSynthVocab(size_t vocab_size);

}  // namespace moe
