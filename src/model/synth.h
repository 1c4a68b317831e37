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
  DType type = DType::kF32;          // 2-D weights; norms, router and bias stay F32
  uint64_t seed = 1;
  bool progress = false;
  bool no_data = false;  // tensors left as sparse holes (zeros): shapes only, for tests of `moe info`
};

std::vector<std::string> SynthArchs();
std::vector<std::string> SynthPresets();

// The config a preset stands for (validated).
Result<ModelConfig> SynthConfig(const std::string& arch, const std::string& preset);

// Writes the model to `path`.
Status SynthesizeModel(const SynthOptions& opts, const std::string& path);

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
