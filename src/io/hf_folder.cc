// Hugging Face folder files: JSON with limits, single-file or sharded safetensors weights.
#include "io/hf_folder.h"

#include <filesystem>
#include <map>
#include <set>

#include <fmt/core.h>

#include "io/safetensors.h"

namespace moe {

namespace fs = std::filesystem;

Result<nlohmann::json> ReadJsonFile(const std::string& path, uint64_t max_bytes) {
  MOE_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path, LoadOptions{}));
  if (file->size() > max_bytes)
    return Status::Errorf("{}: {} bytes, over the limit of {} for a JSON file", path, file->size(), max_bytes);
  const char* text = reinterpret_cast<const char*>(file->data());
  constexpr int kMaxDepth = 64;
  if (JsonNestingDepth(text, file->size(), kMaxDepth) > kMaxDepth)
    return Status::Errorf("{}: JSON nests deeper than {} levels", path, kMaxDepth);
  nlohmann::json j = nlohmann::json::parse(text, text + file->size(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Errorf("{}: not valid JSON", path);
  return j;
}

std::string HfChatTemplate(const std::string& dir) {
  if (auto file = MappedFile::Open(dir + "/chat_template.jinja", LoadOptions{}); file.ok())
    return std::string(reinterpret_cast<const char*>((*file)->data()), (*file)->size());
  auto cfg = ReadJsonFile(dir + "/tokenizer_config.json");
  if (!cfg.ok() || !cfg->is_object() || !cfg->contains("chat_template")) return "";
  const auto& ct = (*cfg)["chat_template"];
  if (ct.is_string()) return ct.get<std::string>();
  if (ct.is_array())
    for (const auto& e : ct)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
        return e["template"].get<std::string>();
  return "";
}

namespace {

// Adds every tensor of one shard, refusing names already seen in another shard.
Status AddShard(SafetensorsFile&& st, SafetensorsCheckpoint* ck) {
  for (const TensorEntry& e : st.tensors.entries()) {
    if (const TensorEntry* prev = ck->catalog.Find(e.name))
      return Status::Errorf("tensor '{}' is in both {} and {}", e.name, prev->file, e.file);
    ck->catalog.Add(e);
  }
  ck->catalog.KeepAlive(st.file);
  ck->files.push_back(st.file);
  ck->shards.push_back(st.path);
  return Status();
}

// A shard name from the index must be a plain file name inside the folder.
bool PlainFileName(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\\') == std::string::npos && s.find('\0') == std::string::npos;
}

}  // namespace

Result<SafetensorsCheckpoint> OpenSafetensorsCheckpoint(const std::string& dir, const LoadOptions& opts) {
  SafetensorsCheckpoint ck;
  const fs::path root(dir);
  std::error_code ec;
  const fs::path single = root / "model.safetensors";
  if (fs::is_regular_file(single, ec)) {
    MOE_ASSIGN_OR_RETURN(SafetensorsFile st, OpenSafetensors(single.string(), opts));
    MOE_RETURN_IF_ERROR(AddShard(std::move(st), &ck));
    return ck;
  }
  const fs::path index_path = root / "model.safetensors.index.json";
  if (!fs::is_regular_file(index_path, ec)) {
    std::string hint;
    if (fs::exists(root / "pytorch_model.bin", ec) || fs::exists(root / "pytorch_model.bin.index.json", ec))
      hint = " (found PyTorch .bin weights: convert them to safetensors first)";
    return Status::Errorf("{}: no model.safetensors or model.safetensors.index.json{}", dir, hint);
  }
  const std::string index_name = index_path.string();
  MOE_ASSIGN_OR_RETURN(nlohmann::json index, ReadJsonFile(index_name));
  auto wm = index.is_object() ? index.find("weight_map") : index.end();
  if (wm == index.end() || !wm->is_object())
    return Status::Errorf("{}: expected an object with a 'weight_map' object (tensor name -> shard file)",
                          index_name);
  std::map<std::string, std::vector<std::string>> by_shard;  // shard -> tensors it should hold
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string() || !PlainFileName(it->get<std::string>()))
      return Status::Errorf("{}: weight_map entry '{}' must name a shard file in the same folder, found {}",
                            index_name, it.key(), it->dump());
    by_shard[it->get<std::string>()].push_back(it.key());
  }
  if (by_shard.empty()) return Status::Errorf("{}: weight_map is empty", index_name);
  size_t i = 0;
  for (const auto& [shard, names] : by_shard) {
    const std::string path = (root / shard).string();
    if (!fs::is_regular_file(path, ec))
      return Status::Errorf("{}: shard '{}' (holding '{}' and {} more tensors) is missing; incomplete download?",
                            index_name, shard, names.front(), names.size() - 1);
    ++i;
    if (opts.progress && by_shard.size() > 1)
      fmt::print(stderr, "mapping shard {}/{}: {}\n", i, by_shard.size(), shard);
    MOE_ASSIGN_OR_RETURN(SafetensorsFile st, OpenSafetensors(path, opts));
    for (const std::string& n : names)
      if (!st.tensors.Contains(n))
        return Status::Errorf("{}: weight_map puts tensor '{}' in {}, which has no such tensor", index_name, n,
                              path);
    MOE_RETURN_IF_ERROR(AddShard(std::move(st), &ck).WithContext(dir));
  }
  return ck;
}

}  // namespace moe
