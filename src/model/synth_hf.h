// `moe synth --format hf`: the synth models of model/synth.h written as Hugging Face folders
// (config.json, safetensors weights, tokenizer.json, tokenizer_config.json,
// generation_config.json), including DeepSeek-V3's FP8 layout, for measuring how the engine
// loads and runs such checkpoints.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "model/synth.h"

namespace moe {

// Writes the synth model of `opts` into the folder `dir` (created if missing): the weights as
// model.safetensors, or as model-0000i-of-0000N.safetensors shards plus
// model.safetensors.index.json once they exceed opts.shard_bytes. Tensor names are the inverse
// of hf_tensor_names.h, routed experts one tensor each. The same seed gives the same values as
// the GGUF of the same arch and preset (SynthRow) before rounding to the storage type; llama's
// q/k rows are written unpermuted, so the folder computes what the GGUF computes.
//   opts.type f32 | f16 | bf16: every tensor of that type but the routing bias (F32).
//   opts.type f8 (kF8E4M3), as DeepSeek-V3 publishes: the layers' linear weights (attention,
//     dense MLP, routed and shared experts) F8_E4M3 with float32 `weight_scale_inv` per
//     128x128 block (weight = e4m3 * scale, scale = block max |w| / 448); embeddings, lm_head,
//     norms and the router BF16; e_score_correction_bias F32; config.json quantization_config.
// Model files an earlier run left in `dir` (model.safetensors, shards, index) are replaced or
// removed, so the folder never mixes two models.
Status SynthesizeHfFolder(const SynthOptions& opts, const std::string& dir);

}  // namespace moe
