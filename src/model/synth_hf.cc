// Synth models as Hugging Face folders: the GGUF plan's tensors (model/synth.h) renamed with
// the inverse of hf_tensor_names.h, routed experts split apart, llama's q/k rows unpermuted,
// FP8 block-quantized when asked, grouped into shards and streamed through SafetensorsWriter
// a block of rows at a time.
#include "model/synth_hf.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "base/check.h"
#include "base/progress.h"
#include "base/thread_pool.h"
#include "io/safetensors_writer.h"
#include "model/hf_tensor_names.h"
#include "model/synth_hf_json.h"

namespace moe {

namespace fs = std::filesystem;

namespace {

// One tensor of the folder.
struct HfTensor {
  std::string name;             // Hugging Face name
  DType type;                   // storage: kF32, kF16, kBF16 or kF8E4M3
  std::vector<uint64_t> shape;  // [rows, cols] or [n]
  size_t plan = 0;              // the plan entry its values come from
  int64_t expert = -1;          // routed expert of a stacked plan entry, -1 otherwise
  bool scales = false;          // the weight_scale_inv grid of the FP8 tensor at `weight`
  size_t weight = 0;

  uint64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  uint64_t cols() const { return shape.back(); }
  uint64_t bytes() const { return rows() * RowBytes(type, cols()); }
};

const char* SafetensorsDType(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF8E4M3: return "F8_E4M3";
    default: MOE_CHECK(false && "no safetensors dtype");
  }
  return "";
}

// Storage type of a tensor of `role` in a folder of `type`; FP8 folders follow DeepSeek-V3's
// published checkpoints.
DType StorageType(SynthRole role, DType type) {
  if (role == SynthRole::kRouterBias) return DType::kF32;
  if (type == DType::kF8E4M3) return role == SynthRole::kLinear ? DType::kF8E4M3 : DType::kBF16;
  return type;
}

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// The folder's tensors: the embeddings, the layers in order, then the final norm and lm_head
// (Hugging Face's module order); each FP8 weight followed by its scales.
Result<std::vector<HfTensor>> ListTensors(const ModelConfig& c, const std::vector<SynthTensor>& plan, DType type) {
  std::vector<size_t> order(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) order[i] = i;
  auto rank = [&](size_t i) {
    return plan[i].role == SynthRole::kEmbedding ? 0 : plan[i].name.starts_with("blk.") ? 1 : 2;
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rank(a) < rank(b); });
  std::vector<HfTensor> out;
  for (size_t pi : order) {
    const SynthTensor& t = plan[pi];
    const bool stacked = t.shape.size() == 3;
    const int64_t n_expert = stacked ? static_cast<int64_t>(t.shape[0]) : 1;
    for (int64_t e = 0; e < n_expert; ++e) {
      // Stacked experts have no Hugging Face name; each expert's binder name does.
      const std::string gguf =
          stacked ? fmt::format("{}.{}.weight", t.name.substr(0, t.name.rfind(".weight")), e) : t.name;
      const std::string hf = GgufToHfTensorName(c.architecture, gguf);
      if (hf.empty()) return Status::Errorf("synth: no Hugging Face name for tensor '{}' of {}", gguf, c.architecture);
      const HfTensor h{.name = hf, .type = StorageType(t.role, type),
                       .shape = stacked ? std::vector<uint64_t>{t.shape[1], t.shape[2]} : t.shape, .plan = pi,
                       .expert = stacked ? e : -1};
      out.push_back(h);
      if (h.type != DType::kF8E4M3) continue;
      out.push_back({.name = hf + "_scale_inv", .type = DType::kF32,
                     .shape = {CeilDiv(h.rows(), kF8Block), CeilDiv(h.cols(), kF8Block)}, .plan = pi,
                     .expert = h.expert, .scales = true, .weight = out.size() - 1});
    }
  }
  return out;
}

struct Shard {
  std::string file;
  std::vector<size_t> tensors;  // indices into the tensor list, in file order
  uint64_t bytes = 0;
};

// Fills shards in list order, starting a new one when the next tensor (with its scales) would
// push the current one past `max_bytes`; a tensor larger than that gets a shard of its own.
// Inside a shard wider elements come first (F32, then 16-bit, then FP8), as the reference
// writer orders them, so every tensor starts at a multiple of its element size without
// padding (the reference reader refuses holes); FP8 scales thereby precede their weights.
std::vector<Shard> AssignShards(const std::vector<HfTensor>& list, uint64_t max_bytes) {
  std::vector<Shard> shards(1);
  for (size_t i = 0; i < list.size(); ++i) {
    const bool with_scales = i + 1 < list.size() && list[i + 1].scales;
    const uint64_t bytes = list[i].bytes() + (with_scales ? list[i + 1].bytes() : 0);
    if (!shards.back().tensors.empty() && shards.back().bytes + bytes > max_bytes) shards.emplace_back();
    shards.back().tensors.push_back(i);
    if (with_scales) shards.back().tensors.push_back(++i);
    shards.back().bytes += bytes;
  }
  for (size_t s = 0; s < shards.size(); ++s) {
    std::stable_sort(shards[s].tensors.begin(), shards[s].tensors.end(), [&](size_t a, size_t b) {
      return BlockBytes(list[a].type) > BlockBytes(list[b].type);
    });
    shards[s].file = shards.size() == 1 ? "model.safetensors"
                                        : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
  }
  return shards;
}

// The plan row (GGUF layout, experts stacked) that row r of `h` holds. llama's GGUF q/k rows
// are permuted within each head (llama.cpp's conversion: Hugging Face row (head, half j, i) is
// GGUF row (head, 2i + j)) so that RoPE rotates adjacent pairs; folders keep the unpermuted
// order and rotate halves (hf_config.cc sets rope_halves), so a folder row takes the values of
// the GGUF row it stands for and both files compute the same model.
uint64_t PlanRow(const ModelConfig& c, const SynthTensor& t, const HfTensor& h, uint64_t r) {
  if (c.architecture == "llama" && (t.name.ends_with(".attn_q.weight") || t.name.ends_with(".attn_k.weight"))) {
    const uint64_t d = static_cast<uint64_t>(c.head_dim), half = d / 2, in = r % d;
    return r / d * d + 2 * (in % half) + in / half;
  }
  return (h.expert >= 0 ? static_cast<uint64_t>(h.expert) * h.rows() : 0) + r;
}

class FolderWriter {
 public:
  FolderWriter(const SynthOptions& o, const ModelConfig& c, const std::vector<SynthTensor>& plan,
               const std::vector<HfTensor>& list, uint64_t total_bytes, const std::string& label)
      : o_(o), c_(c), plan_(plan), list_(list), progress_(label, total_bytes, o.progress) {}

  Status WriteShard(const Shard& s, const std::string& path) {
    SafetensorsWriter w;
    for (size_t i : s.tensors)
      MOE_RETURN_IF_ERROR(w.AddTensor(list_[i].name, SafetensorsDType(list_[i].type), list_[i].shape));
    MOE_RETURN_IF_ERROR(w.Begin(path));
    for (size_t i : s.tensors) MOE_RETURN_IF_ERROR(WriteTensor(i, w));
    return w.Finish();
  }
  void Finish() { progress_.Finish(); }

 private:
  // Calls fn(r, values) for rows [r0, r1) of h, in parallel; values are float32 [cols].
  template <typename Fn>
  void ForRows(const HfTensor& h, uint64_t r0, uint64_t r1, Fn&& fn) {
    const SynthTensor& t = plan_[h.plan];
    GlobalPool().ParallelFor(r1 - r0, 8, [&](size_t a, size_t b) {
      std::vector<float> row(h.cols());
      for (size_t k = a; k < b; ++k) {
        SynthRow(o_.seed, h.plan, t, PlanRow(c_, t, h, r0 + k), row.data());
        fn(r0 + k, row.data());
      }
    });
  }

  // The weight_scale_inv grid of FP8 tensor w: max |value| of each 128x128 block / 448, the
  // largest e4m3 magnitude, so the block's largest weight becomes ±448 (1 for an all-zero
  // block, whose weights encode as 0 whatever the scale).
  std::vector<float> BlockScales(const HfTensor& w) {
    const uint64_t rows = w.rows(), cols = w.cols(), ncb = CeilDiv(cols, kF8Block);
    std::vector<float> scales(CeilDiv(rows, kF8Block) * ncb);
    std::vector<float> amax(kF8Block * ncb);  // per row of the block row, per column block
    for (uint64_t r0 = 0; r0 < rows; r0 += kF8Block) {
      std::fill(amax.begin(), amax.end(), 0.0f);
      ForRows(w, r0, std::min(rows, r0 + kF8Block), [&](uint64_t r, const float* x) {
        float* m = &amax[(r - r0) * ncb];
        for (uint64_t k = 0; k < cols; ++k) m[k / kF8Block] = std::max(m[k / kF8Block], std::fabs(x[k]));
      });
      for (uint64_t cb = 0; cb < ncb; ++cb) {
        float m = 0;
        for (uint64_t r = 0; r < kF8Block; ++r) m = std::max(m, amax[r * ncb + cb]);
        scales[r0 / kF8Block * ncb + cb] = m > 0 ? m / 448.0f : 1.0f;
      }
    }
    return scales;
  }

  Status WriteTensor(size_t i, SafetensorsWriter& w) {
    const HfTensor& h = list_[i];
    if (o_.no_data) {
      MOE_RETURN_IF_ERROR(w.Write(nullptr, h.bytes()));
      progress_.Update(done_ += h.bytes());
      return Status();
    }
    if (h.scales) {
      // Written before the weight (AssignShards), which quantizes with the grid kept here.
      std::vector<float> s = BlockScales(list_[h.weight]);
      MOE_RETURN_IF_ERROR(w.Write(s.data(), s.size() * sizeof(float)));  // little-endian hosts
      scales_[h.weight] = std::move(s);
      progress_.Update(done_ += h.bytes());
      return Status();
    }
    const uint64_t rows = h.rows(), cols = h.cols(), rb = RowBytes(h.type, cols);
    const float* scales = nullptr;
    if (h.type == DType::kF8E4M3) {
      auto it = scales_.find(i);
      MOE_CHECK(it != scales_.end());
      scales = it->second.data();
    }
    // Block rows of 128 for FP8 (one row of the scale grid), ~4 MB of float32 otherwise.
    const uint64_t chunk = h.type == DType::kF8E4M3 ? kF8Block : std::max<uint64_t>(1, (1u << 20) / cols);
    const uint64_t ncb = CeilDiv(cols, kF8Block);
    for (uint64_t r0 = 0; r0 < rows; r0 += chunk) {
      const uint64_t r1 = std::min(rows, r0 + chunk);
      bytes_.resize((r1 - r0) * rb);
      ForRows(h, r0, r1, [&](uint64_t r, const float* x) {
        uint8_t* out = &bytes_[(r - r0) * rb];
        if (!scales) {
          QuantizeRow(h.type, x, cols, out);
          return;
        }
        const float* s = scales + r / kF8Block * ncb;
        for (uint64_t k = 0; k < cols; ++k) out[k] = F32ToF8E4M3(x[k] / s[k / kF8Block]);
      });
      MOE_RETURN_IF_ERROR(w.Write(bytes_.data(), bytes_.size()));
      progress_.Update(done_ += bytes_.size());
    }
    scales_.erase(i);
    return Status();
  }

  const SynthOptions& o_;
  const ModelConfig& c_;
  const std::vector<SynthTensor>& plan_;
  const std::vector<HfTensor>& list_;
  Progress progress_;
  uint64_t done_ = 0;
  std::map<size_t, std::vector<float>> scales_;  // FP8 weight index -> its block scales
  std::vector<uint8_t> bytes_;
};

Status WriteTextFile(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (f) f << text;
  if (f) f.close();
  if (!f) return Status::Errorf("{}: cannot write: {}", path.string(), std::strerror(errno));
  return Status();
}

// Removes the weight files of an earlier synth in `dir` that `shards` do not overwrite (a
// 3-shard run after a 5-shard one would otherwise leave shards 4 and 5 and a stale index).
Status RemoveStaleModelFiles(const fs::path& dir, const std::vector<Shard>& shards) {
  std::set<std::string> keep;
  for (const Shard& s : shards) keep.insert(s.file);
  if (shards.size() > 1) keep.insert("model.safetensors.index.json");
  static const std::regex kModelFile(R"(model\.safetensors(\.index\.json)?|model-\d{5}-of-\d{5}\.safetensors)");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (keep.count(name) || !std::regex_match(name, kModelFile)) continue;
    if (!fs::remove(e.path(), ec) || ec)
      return Status::Errorf("{}: cannot remove the earlier model file: {}", e.path().string(), ec.message());
  }
  if (ec) return Status::Errorf("{}: cannot list: {}", dir.string(), ec.message());
  return Status();
}

}  // namespace

Status SynthesizeHfFolder(const SynthOptions& o, const std::string& dir) {
  if (o.type != DType::kF32 && o.type != DType::kF16 && o.type != DType::kBF16 && o.type != DType::kF8E4M3)
    return Status::Errorf("synth: --type {} is GGUF-only; a Hugging Face folder takes f32, f16, bf16 or f8",
                          DTypeName(o.type));
  if (o.shard_bytes == 0) return Status::Error("synth: the shard size must be at least one byte");
  MOE_ASSIGN_OR_RETURN(const ModelConfig c, SynthConfig(o.arch, o.preset));
  const std::vector<SynthTensor> plan = PlanSynthTensors(c, DType::kF32);
  MOE_ASSIGN_OR_RETURN(const std::vector<HfTensor> list, ListTensors(c, plan, o.type));
  const std::vector<Shard> shards = AssignShards(list, o.shard_bytes);

  const fs::path root(dir);
  std::error_code ec;
  if (fs::exists(root, ec) && !fs::is_directory(root, ec))
    return Status::Errorf("{}: exists and is not a directory (--format hf writes a folder)", dir);
  fs::create_directories(root, ec);
  if (ec) return Status::Errorf("{}: cannot create the folder: {}", dir, ec.message());
  MOE_RETURN_IF_ERROR(RemoveStaleModelFiles(root, shards));

  const SynthVocab v = BuildSynthVocab(static_cast<size_t>(c.vocab_size));
  MOE_ASSIGN_OR_RETURN(const nlohmann::ordered_json config, SynthHfConfigJson(c, o.type, v));
  MOE_RETURN_IF_ERROR(WriteTextFile(root / "config.json", config.dump(2) + "\n"));
  MOE_RETURN_IF_ERROR(WriteTextFile(root / "generation_config.json", SynthHfGenerationConfigJson(v).dump(2) + "\n"));
  MOE_RETURN_IF_ERROR(WriteTextFile(root / "tokenizer.json", SynthHfTokenizerJson(c, v).dump(2) + "\n"));
  MOE_RETURN_IF_ERROR(
      WriteTextFile(root / "tokenizer_config.json", SynthHfTokenizerConfigJson(c, v).dump(2) + "\n"));

  uint64_t total = 0;
  for (const Shard& s : shards) total += s.bytes;
  FolderWriter writer(o, c, plan, list, total, "writing " + dir);
  for (const Shard& s : shards) MOE_RETURN_IF_ERROR(writer.WriteShard(s, (root / s.file).string()));
  writer.Finish();
  if (shards.size() == 1) return Status();
  // The index Hugging Face writes: total tensor bytes, tensor name -> shard file.
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", nlohmann::json::object()}};
  for (const Shard& s : shards)
    for (size_t i : s.tensors) index["weight_map"][list[i].name] = s.file;
  return WriteTextFile(root / "model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace moe
