// The GGUF metadata keys shared by decoder families, read into ModelConfig (one table; each
// family adds what is its own).
#pragma once

#include "io/gguf.h"
#include "model/config.h"

namespace moe {

// Reads `<arch>.*` keys common to decoder families: sizes, heads, rope, norms, experts.
Result<ModelConfig> ParseCommonGgufConfig(const GgufFile& g);

}  // namespace moe
