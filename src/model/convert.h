// `moe convert`: a Hugging Face folder to one GGUF file with llama.cpp's tensor names and
// metadata (what model/gguf_config.cc and the family binders read back), the tokenizer from
// tokenizer.json, and the weights converted row by row; FP8 weights are dequantized with
// their block scales on the way, never as a whole copy of the model.
#pragma once

#include <string>

#include "base/status.h"
#include "tensor/dtype.h"

namespace moe {

struct ConvertOptions {
  bool progress = false;  // a progress line on stderr: bytes converted, GB/s (base/progress.h)
};

// type: the 2-D weights' GGUF type (kF32, kBF16 or kQ8_0); norms, biases and the router stay
// F32 as in llama.cpp's conversions. Families whose GGUF layout permutes rows (llama's q/k)
// are refused. Memory: one output tensor at a time (a stacked expert tensor holds all its
// experts), the input stays mapped.
Status ConvertHfToGguf(const std::string& dir, DType type, const std::string& out_path,
                       const ConvertOptions& opts = {});

}  // namespace moe
