#include "model/convert.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <vector>

#include "base/progress.h"
#include "io/gguf_writer.h"
#include "io/hf_folder.h"
#include "model/hf_config.h"
#include "model/synth.h"
#include "tokenizer/tokenizer.h"

namespace moe {
namespace {

using nlohmann::json;

// One GGUF tensor and the catalog tensors it is made of: one, or the per-expert tensors
// stacked in expert order.
struct OutTensor {
  std::string name;
  std::vector<uint64_t> shape;
  DType type;
  std::vector<const TensorEntry*> parts;
};

// Decodes row r of a [rows, cols] catalog tensor into out. FP8 rows take their block-row of
// the scale grid, widened to float32 into `scale_row` (scales may be F32, BF16 or F16).
void DecodeRow(const TensorEntry& e, const TensorEntry* scales, size_t cols, size_t r, std::vector<float>& scale_row,
               float* out) {
  if (*e.dtype == DType::kF8E4M3) {
    const size_t n = scales->shape.back();
    scale_row.resize(n);
    DequantizeRow(*scales->dtype, scales->data + r / kF8Block * RowBytes(*scales->dtype, n), n, scale_row.data());
    DequantizeRowF8(e.data + r * cols, scale_row.data(), cols, out);
  } else {
    DequantizeRow(*e.dtype, e.data + r * RowBytes(*e.dtype, cols), cols, out);
  }
}

Result<std::vector<OutTensor>> PlanTensors(const HfCheckpoint& ck, DType type) {
  std::vector<OutTensor> out;
  std::map<std::string, size_t> stacked;  // stacked name -> index in out
  const std::regex expert(R"((blk\.\d+\.ffn_(gate|up|down)_exps)\.(\d+)\.weight)");
  for (const TensorEntry& e : ck.catalog.entries()) {
    if (e.name.ends_with("_scale_inv")) continue;  // consumed with its weight
    if (!e.dtype)
      return Status::Errorf("{}: tensor '{}' has type {}, which cannot be converted", ck.dir, e.name, e.type_name);
    if (e.shape.empty() || e.shape.back() == 0)
      return Status::Errorf("{}: tensor '{}' has shape {}, nothing to convert", ck.dir, e.name, ShapeString(e.shape));
    if (*e.dtype == DType::kF8E4M3) {
      const TensorEntry* s = ck.catalog.Find(e.name + "_scale_inv");
      const uint64_t rows = e.shape.size() == 2 ? e.shape[0] : 0, cols = e.shape.empty() ? 0 : e.shape.back();
      const std::vector<uint64_t> want = {(rows + kF8Block - 1) / kF8Block, (cols + kF8Block - 1) / kF8Block};
      const bool float_scales = s && (s->dtype == DType::kF32 || s->dtype == DType::kBF16 || s->dtype == DType::kF16);
      if (e.shape.size() != 2 || !float_scales || s->shape != want)
        return Status::Errorf("{}: FP8 tensor '{}' {} needs an F32, BF16 or F16 '{}_scale_inv' of shape {}, found {}",
                              ck.dir, e.name, ShapeString(e.shape), e.name, ShapeString(want),
                              s ? fmt::format("{} {}", s->type_name, ShapeString(s->shape)) : "none");
    }
    const bool matrix = e.shape.size() == 2 && e.name.find("ffn_gate_inp") == std::string::npos;
    const DType t = matrix ? type : DType::kF32;
    if (t == DType::kQ8_0 && e.shape.back() % kQ8_0Block != 0)
      return Status::Errorf("{}: tensor '{}' has {} columns, not a multiple of 32 as q8_0 needs; try --type bf16",
                            ck.dir, e.name, e.shape.back());
    std::smatch m;
    if (std::regex_match(e.name, m, expert)) {
      const std::string name = m[1].str() + ".weight";
      const size_t index = std::stoul(m[3].str());
      auto [it, fresh] = stacked.emplace(name, out.size());
      if (fresh) out.push_back({name, {0, e.shape[0], e.shape[1]}, t, {}});
      OutTensor& o = out[it->second];
      if (index != o.parts.size() || e.shape != std::vector<uint64_t>{o.shape[1], o.shape[2]})
        return Status::Errorf("{}: expert tensor '{}' {} out of order or shaped unlike expert 0 {}", ck.dir, e.name,
                              ShapeString(e.shape), ShapeString({o.shape[1], o.shape[2]}));
      o.parts.push_back(&e);
      o.shape[0] = o.parts.size();
      continue;
    }
    out.push_back({e.name, e.shape, t, {&e}});
  }
  return out;
}

// tokenizer.ggml.* from a byte-level BPE tokenizer.json (+ tokenizer_config.json), written so
// that Tokenizer::FromGguf behaves as Tokenizer::FromHfJson does on the folder: the pre-tokenizer
// name is the preset that splits like tokenizer.json's pre_tokenizer (not the family's usual
// one: small or custom tokenizers differ), BOS/EOS and add_bos/add_eos are the folder
// tokenizer's, and the chat template is the one `moe chat` would use for the folder.
Status WriteTokenizer(const HfCheckpoint& ck, GgufWriter& w) {
  const std::string path = ck.dir + "/tokenizer.json";
  MOE_ASSIGN_OR_RETURN(const json t, ReadJsonFile(path));
  json cfg;
  const bool has_cfg = std::filesystem::is_regular_file(ck.dir + "/tokenizer_config.json");
  if (has_cfg) {
    MOE_ASSIGN_OR_RETURN(cfg, ReadJsonFile(ck.dir + "/tokenizer_config.json"));
  }
  auto folder_tok = Tokenizer::FromHfJson(t, has_cfg ? &cfg : nullptr);
  if (!folder_tok.ok()) return folder_tok.status().WithContext(ck.dir);
  const Tokenizer& hf = **folder_tok;
  auto pre = Tokenizer::GgufPreName(t, GgufTokenizerPre(ck.config));
  if (!pre.ok()) return pre.status().WithContext(ck.dir);
  static const json kNone;
  const json& model = t.contains("model") ? t["model"] : kNone;
  if (!model.is_object() || model.value("type", "") != "BPE" || !model.contains("vocab") || !model["vocab"].is_object())
    return Status::Errorf("{}: model.type is not \"BPE\" with a vocab object (only byte-level BPE converts)", path);
  std::map<int64_t, std::pair<std::string, int32_t>> by_id;  // id -> (text, token type)
  for (auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) return Status::Errorf("{}: vocab '{}' has no valid id", path, text);
    by_id[id.get<int64_t>()] = {text, 1};  // normal
  }
  if (t.contains("added_tokens") && t["added_tokens"].is_array())
    for (const json& a : t["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        return Status::Errorf("{}: an added_tokens entry lacks id or content", path);
      by_id[a["id"].get<int64_t>()] = {a["content"].get<std::string>(), a.value("special", false) ? 3 : 4};
    }
  const int64_t n = std::max<int64_t>(ck.config.vocab_size, by_id.empty() ? 0 : by_id.rbegin()->first + 1);
  if (n > (int64_t{1} << 24)) return Status::Errorf("{}: {} tokens, more than a tokenizer can hold", path, n);
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<int32_t> types(static_cast<size_t>(n), 5);  // unused
  for (int64_t i = 0; i < n; ++i) tokens[static_cast<size_t>(i)] = fmt::format("[PAD{}]", i);
  for (auto& [id, tt] : by_id) {
    tokens[static_cast<size_t>(id)] = tt.first;
    types[static_cast<size_t>(id)] = tt.second;
  }
  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array())
    for (const json& m : model["merges"]) {
      if (m.is_string()) merges.push_back(m.get<std::string>());
      else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      else return Status::Errorf("{}: a merges entry is neither \"a b\" nor [\"a\", \"b\"]", path);
    }
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", *pre);
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetStringArray("tokenizer.ggml.merges", merges);
  // The folder tokenizer's ids first (tokenizer_config.json, post_processor); config files
  // otherwise. Extra generation_config eos ids stay end-of-generation when their text is one
  // llama.cpp recognizes (<|im_end|>, <|endoftext|>, ...).
  const int64_t bos = hf.bos_id() >= 0 ? hf.bos_id() : ck.generation.bos_token_id.value_or(-1);
  const int64_t eos = hf.eos_id() >= 0 ? hf.eos_id()
                      : ck.generation.eos_token_ids.empty() ? -1 : ck.generation.eos_token_ids.front();
  if (bos >= 0) w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  if (eos >= 0) w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  if (hf.unk_id() >= 0) w.SetU32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(hf.unk_id()));
  if (hf.pad_id() >= 0) w.SetU32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(hf.pad_id()));
  // Always written: without them a GGUF reader falls back to the pre-tokenizer's default.
  w.SetBool("tokenizer.ggml.add_bos_token", hf.add_bos());
  w.SetBool("tokenizer.ggml.add_eos_token", hf.add_eos());
  if (const std::string tmpl = HfChatTemplate(ck.dir); !tmpl.empty()) w.SetString("tokenizer.chat_template", tmpl);
  return Status();
}

}  // namespace

Status ConvertHfToGguf(const std::string& dir, DType type, const std::string& out_path, const ConvertOptions& opts) {
  if (type != DType::kF32 && type != DType::kBF16 && type != DType::kQ8_0)
    return Status::Errorf("convert: --type {} is not supported (f32, bf16, q8_0)", DTypeName(type));
  MOE_ASSIGN_OR_RETURN(HfCheckpoint ck, LoadHfFolder(dir));
  const std::string& arch = ck.config.architecture;
  if (arch != "deepseek2" && arch != "qwen3moe" && arch != "qwen3")
    return Status::Errorf("{}: converting architecture '{}' is not supported yet (deepseek2, qwen3moe, qwen3; llama's "
                          "GGUF layout permutes q/k rows)", dir, arch);
  MOE_ASSIGN_OR_RETURN(std::vector<OutTensor> plan, PlanTensors(ck, type));
  GgufWriter w;
  WriteArchMetadata(ck.config, type, w);
  MOE_RETURN_IF_ERROR(WriteTokenizer(ck, w));
  uint64_t total = 0;
  for (const OutTensor& t : plan) {
    w.AddTensor(t.name, static_cast<uint32_t>(t.type), t.shape);
    total += w.TensorBytes(w.num_tensors() - 1);
  }
  MOE_RETURN_IF_ERROR(w.Begin(out_path));
  Progress progress("converting " + out_path, total, opts.progress);
  uint64_t done = 0;  // output bytes converted so far
  std::vector<uint8_t> bytes;
  std::vector<float> row, scale_row;
  for (const OutTensor& t : plan) {
    // One output tensor at a time (a stacked expert tensor holds all its experts).
    const size_t cols = t.shape.back();
    const size_t rows_per_part = t.parts.front()->NumElements() / cols;
    const size_t rb = RowBytes(t.type, cols);
    bytes.resize(t.parts.size() * rows_per_part * rb);
    row.resize(cols);
    for (size_t p = 0; p < t.parts.size(); ++p) {
      const TensorEntry& e = *t.parts[p];
      const TensorEntry* scales = ck.catalog.Find(e.name + "_scale_inv");
      for (size_t r = 0; r < rows_per_part; ++r) {
        DecodeRow(e, scales, cols, r, scale_row, row.data());
        QuantizeRow(t.type, row.data(), cols, bytes.data() + (p * rows_per_part + r) * rb);
      }
      progress.Update(done + (p + 1) * rows_per_part * rb);  // per expert: stacked tensors are large
    }
    MOE_RETURN_IF_ERROR(w.WriteTensor(bytes.data(), bytes.size()));
    done += bytes.size();
  }
  progress.Finish();
  return w.Finish();
}

}  // namespace moe
