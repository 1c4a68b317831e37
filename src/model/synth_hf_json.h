// The JSON files of a synth Hugging Face folder (model/synth_hf.h), built from the preset's
// ModelConfig and the synth vocabulary, in the key order Hugging Face writes them.
#pragma once

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "model/config.h"
#include "model/synth.h"
#include "tensor/dtype.h"

namespace moe {

// config.json: architectures, the family's fields as hf_config.cc reads them back into `c`,
// bos/eos ids, torch_dtype, and for FP8 (kF8E4M3) DeepSeek-V3's quantization_config.
Result<nlohmann::ordered_json> SynthHfConfigJson(const ModelConfig& c, DType type, const SynthVocab& v);
// generation_config.json: bos/eos ids.
nlohmann::ordered_json SynthHfGenerationConfigJson(const SynthVocab& v);
// tokenizer.json: byte-level BPE with the GGUF synth model's vocabulary, merges, special
// tokens and pre-tokenizer (GgufTokenizerPre), BOS added by the post-processor.
nlohmann::ordered_json SynthHfTokenizerJson(const ModelConfig& c, const SynthVocab& v);
// tokenizer_config.json: bos/eos tokens, add_bos_token, the ChatML chat template.
nlohmann::ordered_json SynthHfTokenizerConfigJson(const ModelConfig& c, const SynthVocab& v);

}  // namespace moe
