// Config parsers and tensor binders of each family, and the binding helpers they share.
#pragma once

#include <string>

#include "io/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace moe {

Result<ModelConfig> ParseLlama(const GgufFile& g);
Status BindLlama(const ModelConfig& c, Binder& b, ModelWeights* w);
Result<ModelConfig> ParseQwen3Moe(const GgufFile& g);
Status BindQwen3Moe(const ModelConfig& c, Binder& b, ModelWeights* w);
Result<ModelConfig> ParseDeepseek2(const GgufFile& g);
Status BindDeepseek2(const ModelConfig& c, Binder& b, ModelWeights* w);

// Shared pieces: embeddings, norms and output head; GQA projections; a SwiGLU FFN whose
// tensors are named p + "ffn_{gate,up,down}" + suffix; routed experts of a MoE layer.
Status BindCommon(const ModelConfig& c, Binder& b, ModelWeights* w);
Status BindGqa(const ModelConfig& c, Binder& b, const std::string& p, GqaWeights* w);
Status BindFfn(Binder& b, const std::string& p, const std::string& suffix, int64_t ff, int64_t hidden,
               const std::string& why, FfnWeights* w);
Status BindRoutedExperts(const ModelConfig& c, Binder& b, const std::string& p, MoeWeights* w);

}  // namespace moe
