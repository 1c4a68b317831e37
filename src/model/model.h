// A loaded decoder model: config, bound weights, and the forward pass over a batch of
// tokens from one or more sequences. Families differ only in how the config is parsed and
// which tensors they bind (arch/); the forward is shared straight-line code over blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "io/gguf.h"
#include "model/blocks/attention.h"
#include "model/blocks/ffn.h"
#include "model/config.h"
#include "model/hf_config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace moe {

// One sequence's share of a batched forward step: tokens at positions cache->n_past() .. + n.
struct SeqStep {
  std::span<const int32_t> tokens;
  KvCache* cache = nullptr;
  bool all_logits = false;  // logits for every token, else for the last one only
};

struct ParamStats {
  uint64_t total = 0;            // every parameter in bound tensors
  uint64_t active_per_token = 0; // all but the embedding table and unselected routed experts
  uint64_t weight_bytes = 0;
  uint64_t active_bytes_per_token = 0;  // bytes read per decoded token (roofline numerator)
  std::vector<std::pair<std::string, uint64_t>> bytes_by_dtype;
};

class Model {
 public:
  // Opens a GGUF file, or a Hugging Face folder, and binds the family of its architecture.
  static Result<std::unique_ptr<Model>> Load(const std::string& path, const LoadOptions& opts);

  // Fast path: matrix products round their activations to the weights' dot-product format
  // (Q8_0 blocks for VNNI int8 products), as ggml does; off = float32 activations (exact).
  void SetQuantizedActivations(bool on) { attn_.quantized_acts = on; }
  bool quantized_activations() const { return attn_.quantized_acts; }

  const ModelConfig& config() const { return cfg_; }
  // The source: exactly one of the two is set.
  const GgufFile* gguf() const { return gguf_.get(); }
  const HfCheckpoint* hf() const { return hf_.get(); }
  // Load-time notes that are not errors (MTP layers left unused, quantization config, ...).
  const std::vector<std::string>& notes() const { return notes_; }
  const ParamStats& stats() const { return stats_; }
  const std::vector<std::string>& unused_tensors() const { return unused_; }
  // Bytes of weights rewritten at load in the kernels' tiled layouts (LoadOptions::repack).
  uint64_t repacked_bytes() const { return repacked_bytes_; }
  // Why LoadOptions::repack was not carried out (a mapped model too large for the memory
  // available); empty when it was, or when nothing was asked.
  const std::string& repack_skipped() const { return repack_skipped_; }

  // The KV cache's entry type for new caches: kF32 (default, exact), kBF16 or kF16
  // (IsKvDType; half the bytes decode reads at depth, entries rounded when stored).
  void SetKvType(DType t) { kv_dtype_ = t; }
  DType kv_type() const { return kv_dtype_; }
  std::unique_ptr<KvCache> NewCache(size_t capacity) const;
  // Bytes one cached position takes in every layer (what NewCache allocates per token).
  size_t KvBytesPerToken() const;

  // Processes tokens at positions cache.n_past() .. + n, appending them to the cache.
  // logits receives [n, vocab] when all_logits, else [1, vocab] for the last token.
  Status Forward(std::span<const int32_t> tokens, KvCache& cache, bool all_logits,
                 std::vector<float>* logits, ThreadPool& pool) const;
  // One step over several sequences (distinct caches): every matrix is read once for all
  // their tokens. logits holds each step's rows in order ([n_i or 1, vocab] each). A
  // sequence's logits are bitwise those of running it alone.
  Status Forward(std::span<const SeqStep> batch, std::vector<float>* logits, ThreadPool& pool) const;

 private:
  void ComputeStats();
  // Per layer: floats per position of the two cache arrays (GQA keys / values, MLA latent / rope key).
  std::vector<std::pair<size_t, size_t>> KvWidths() const;

  ModelConfig cfg_;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<HfCheckpoint> hf_;
  std::vector<std::string> notes_;
  ModelWeights w_;
  AttentionParams attn_;
  DType kv_dtype_ = DType::kF32;
  RouterOptions router_;
  ParamStats stats_;
  std::vector<std::string> unused_;
  uint64_t repacked_bytes_ = 0;
  std::string repack_skipped_;
};

// Per-family hooks (arch/*.cc), looked up by GGUF architecture name in registry.cc.
struct Family {
  const char* gguf_arch;
  Result<ModelConfig> (*parse)(const GgufFile&);
  Status (*bind)(const ModelConfig&, Binder&, ModelWeights*);
};
const Family* FindFamily(const std::string& gguf_arch);
std::vector<std::string> SupportedArchitectures();

}  // namespace moe
