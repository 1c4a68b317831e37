// The files of a Hugging Face model folder below the model layer: small JSON files read with
// limits, and the weights as one `model.safetensors` or as shards listed by
// `model.safetensors.index.json` (weight_map: tensor name -> shard file), each shard mapped
// once. Tensor names stay as Hugging Face spells them; model/hf_config.h renames them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "io/mapped_file.h"
#include "io/tensor_catalog.h"

namespace moe {

// Reads and parses a JSON file of at most `max_bytes`; never throws. Errors name the file.
Result<nlohmann::json> ReadJsonFile(const std::string& path, uint64_t max_bytes = 64ull << 20);

// The folder's chat template source: chat_template.jinja, else tokenizer_config.json's
// chat_template (a string, or a list of {name, template} whose "default" is used); "" when it
// has none or the files cannot be read.
std::string HfChatTemplate(const std::string& dir);

struct SafetensorsCheckpoint {
  TensorCatalog catalog;                            // every tensor of every shard, HF names
  std::vector<std::shared_ptr<MappedFile>> files;   // the mapped shards (also kept by catalog)
  std::vector<std::string> shards;                  // shard paths, in the order mapped
};

// Opens `dir`/model.safetensors, else the shards named by `dir`/model.safetensors.index.json.
// A tensor the index lists must be in its shard; a name in two shards is an error.
// opts.progress prints one line per shard on stderr when there are several.
Result<SafetensorsCheckpoint> OpenSafetensorsCheckpoint(const std::string& dir, const LoadOptions& opts);

}  // namespace moe
