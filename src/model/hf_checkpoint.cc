// LoadHfFolder: config.json + generation_config.json + safetensors weights, renamed to the
// binders' GGUF-style names. DeepSeek multi-token-prediction layers (indices from
// num_hidden_layers on) are skipped and reported in the notes.
#include <cstring>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "io/hf_folder.h"
#include "model/hf_config.h"
#include "model/hf_tensor_names.h"

namespace moe {

namespace fs = std::filesystem;

namespace {

// Renames the tensors of `raw` into `out`, skipping MTP layers and ignorable buffers.
Status RenameTensors(const SafetensorsCheckpoint& raw, const ModelConfig& c, int64_t mtp_layers,
                     const std::string& dir, HfCheckpoint* out) {
  std::map<int64_t, int> skipped_mtp;  // layer -> tensors
  std::vector<std::string> unknown, ignored;
  std::map<std::string, std::string> origin;  // gguf name -> hf name, to report collisions
  for (const TensorEntry& e : raw.catalog.entries()) {
    HfNameMatch m = MapHfTensorName(c.architecture, e.name);
    if (m.layer >= c.num_hidden_layers) {
      if (m.layer < c.num_hidden_layers + mtp_layers) {
        ++skipped_mtp[m.layer];
        continue;
      }
      return Status::Errorf("{}: tensor '{}' (in {}) belongs to layer {}, but config.json has num_hidden_layers = "
                            "{} and num_nextn_predict_layers = {}", dir, e.name, e.file, m.layer,
                            c.num_hidden_layers, mtp_layers);
    }
    if (m.kind == HfNameMatch::Kind::kIgnored) {
      ignored.push_back(e.name);
      continue;
    }
    TensorEntry renamed = e;
    if (m.kind == HfNameMatch::Kind::kMapped) {
      renamed.name = m.gguf;
    } else {
      unknown.push_back(e.name);
    }
    if (auto [it, fresh] = origin.emplace(renamed.name, e.name); !fresh)
      return Status::Errorf("{}: tensors '{}' and '{}' both map to '{}'", dir, it->second, e.name, renamed.name);
    out->catalog.Add(std::move(renamed));
  }
  for (const auto& f : raw.files) out->catalog.KeepAlive(f);
  for (const auto& [layer, n] : skipped_mtp)
    out->notes.push_back(fmt::format("skipped {} tensors of multi-token-prediction layer {} (not used for decoding)",
                                     n, layer));
  if (!ignored.empty())
    out->notes.push_back(fmt::format("skipped {} buffers not needed for inference (e.g. '{}')", ignored.size(),
                                     ignored.front()));
  if (!unknown.empty())
    out->notes.push_back(fmt::format("{} tensors not recognized for {}, kept under their Hugging Face names (e.g. '{}')",
                                     unknown.size(), c.architecture, unknown.front()));
  return Status();
}

// DeepSeek-V3's FP8 layout is the only one bound: e4m3 weights, 128x128 block scales, activations
// quantized at run time (we keep them float32, which is the dequantized model's arithmetic).
Status CheckFp8QuantizationConfig(const nlohmann::json& q, const std::string& where) {
  if (auto f = q.find("fmt"); f != q.end() && !(f->is_string() && f->get<std::string>() == "e4m3"))
    return Status::Errorf("{}: quantization_config.fmt is {}, expected \"e4m3\" (only float8 e4m3fn weights are "
                          "supported)", where, f->dump());
  auto b = q.find("weight_block_size");
  if (b == q.end())
    return Status::Errorf("{}: quantization_config (fp8) has no weight_block_size, expected [128, 128]", where);
  if (!(b->is_array() && b->size() == 2 && (*b)[0] == 128 && (*b)[1] == 128))
    return Status::Errorf("{}: quantization_config.weight_block_size is {}, expected [128, 128] (the only FP8 block "
                          "size supported)", where, b->dump());
  if (auto a = q.find("activation_scheme"); a != q.end() && !(a->is_string() && a->get<std::string>() == "dynamic"))
    return Status::Errorf("{}: quantization_config.activation_scheme is {}, expected \"dynamic\" (static activation "
                          "scales are not supported)", where, a->dump());
  return Status();
}

}  // namespace

Result<HfCheckpoint> LoadHfFolder(const std::string& dir, const LoadOptions& opts) {
  HfCheckpoint ck;
  ck.dir = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::Errorf("{}: not a directory", dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::is_regular_file(config_path, ec))
    return Status::Errorf("{}: no config.json; is this a Hugging Face model folder?", dir);
  MOE_ASSIGN_OR_RETURN(ck.config_json, ReadJsonFile(config_path, 16ull << 20));
  MOE_ASSIGN_OR_RETURN(ck.config, ParseHfConfig(ck.config_json, config_path));
  if (ck.config.name.empty()) ck.config.name = fs::path(dir).lexically_normal().filename().string();
  MOE_RETURN_IF_ERROR(ck.config.Validate().WithContext(config_path));

  const std::string gen_path = (fs::path(dir) / "generation_config.json").string();
  ck.generation_config = nlohmann::json::object();
  if (fs::is_regular_file(gen_path, ec)) {
    MOE_ASSIGN_OR_RETURN(ck.generation_config, ReadJsonFile(gen_path, 1ull << 20));
    if (!ck.generation_config.is_object()) return Status::Errorf("{}: expected a JSON object", gen_path);
  }
  MOE_ASSIGN_OR_RETURN(ck.generation,
                       ParseHfGenerationConfig(ck.generation_config, gen_path, ck.config_json, config_path));

  int64_t mtp_layers = 0;
  if (auto it = ck.config_json.find("num_nextn_predict_layers");
      it != ck.config_json.end() && it->is_number_integer() && it->get<int64_t>() > 0 && it->get<int64_t>() < 64)
    mtp_layers = it->get<int64_t>();

  MOE_ASSIGN_OR_RETURN(SafetensorsCheckpoint raw, OpenSafetensorsCheckpoint(dir, opts));
  MOE_RETURN_IF_ERROR(RenameTensors(raw, ck.config, mtp_layers, dir, &ck));

  MOE_ASSIGN_OR_RETURN(std::vector<float> rope_factors, HfLlama3RopeFactors(ck.config_json, ck.config, config_path));
  if (!rope_factors.empty() && !ck.catalog.Contains("rope_freqs.weight")) {
    std::vector<uint8_t> bytes(rope_factors.size() * sizeof(float));
    std::memcpy(bytes.data(), rope_factors.data(), bytes.size());
    auto mem = MappedFile::FromBytes(std::move(bytes), config_path + " (rope_scaling)");
    TensorEntry e;
    e.name = "rope_freqs.weight";
    e.ggml_type = 0;
    e.dtype = DType::kF32;
    e.type_name = "F32";
    e.shape = {rope_factors.size()};
    e.data = mem->data();
    e.nbytes = mem->size();
    e.file = mem->path();
    ck.catalog.Add(std::move(e));
    ck.catalog.KeepAlive(std::move(mem));
    ck.notes.push_back(fmt::format("rope_freqs.weight computed from rope_scaling llama3 ({} pairs)", rope_factors.size()));
  }

  bool tied = false;
  if (auto it = ck.config_json.find("tie_word_embeddings"); it != ck.config_json.end() && it->is_boolean())
    tied = it->get<bool>();
  if (!tied && !ck.catalog.Contains("output.weight") && ck.catalog.Contains("token_embd.weight"))
    return Status::Errorf("{}: no lm_head.weight, and config.json does not set tie_word_embeddings = true", dir);

  if (auto it = ck.config_json.find("quantization_config"); it != ck.config_json.end() && it->is_object()) {
    std::string method = "unknown";
    if (auto q = it->find("quant_method"); q != it->end() && q->is_string()) method = q->get<std::string>();
    if (method == "fp8") {
      MOE_RETURN_IF_ERROR(CheckFp8QuantizationConfig(*it, dir + "/config.json"));
      ck.notes.push_back("quantization_config: fp8 e4m3 with 128x128 block scales (weight_scale_inv), computed "
                         "natively");
    } else {
      ck.notes.push_back(fmt::format("quantization_config: quant_method '{}' (tensors keep their stored types)",
                                     method));
    }
  }
  return ck;
}

}  // namespace moe
