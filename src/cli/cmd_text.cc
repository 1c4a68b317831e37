// `moe tokenize` / `moe detokenize`: text ↔ token ids with a model's own tokenizer. They read
// only the GGUF metadata, so vocab-only files work too.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "io/hf_folder.h"
#include "tokenizer/tokenizer.h"

namespace moe::cli {

Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path) {
  if (std::filesystem::is_directory(path)) {
    MOE_ASSIGN_OR_RETURN(nlohmann::json tj, ReadJsonFile(path + "/tokenizer.json"));
    nlohmann::json cfg;
    bool has_cfg = std::filesystem::exists(path + "/tokenizer_config.json");
    if (has_cfg) {
      MOE_ASSIGN_OR_RETURN(cfg, ReadJsonFile(path + "/tokenizer_config.json"));
    }
    auto t = Tokenizer::FromHfJson(tj, has_cfg ? &cfg : nullptr);
    if (!t.ok()) return t.status().WithContext(path + "/tokenizer.json");
    return t;
  }
  MOE_ASSIGN_OR_RETURN(GgufFile g, GgufFile::Open(path));
  auto t = Tokenizer::FromGguf(g);
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

Result<std::unique_ptr<Tokenizer>> ModelTokenizer(const Model& m, const std::string& path) {
  if (m.gguf()) {
    auto t = Tokenizer::FromGguf(*m.gguf());
    if (!t.ok()) return t.status().WithContext(path);
    return t;
  }
  return LoadTokenizer(path);
}

std::string ChatTemplateSource(const Model& m, const std::string& path) {
  if (m.gguf()) {
    if (auto* t = m.gguf()->Find("tokenizer.chat_template"); t && t->AsString()) return *t->AsString();
    return "";
  }
  return HfChatTemplate(path);
}

void RegisterText(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  {
    auto* cmd = app.add_subcommand("tokenize", "print the token ids of stdin's text as a JSON array");
    auto model = std::make_shared<std::string>();
    auto pieces = std::make_shared<bool>(false);
    auto ids = std::make_shared<bool>(false);
    auto no_bos = std::make_shared<bool>(false);
    auto no_special = std::make_shared<bool>(false);
    cmd->add_option("-m,--model", *model, "GGUF file (a vocab-only file is enough) or Hugging Face folder")->required();
    cmd->add_flag("--ids", *ids, "print ids (the default)");
    cmd->add_flag("--pieces", *pieces, "print the vocabulary pieces instead of ids");
    cmd->add_flag("--no-bos", *no_bos, "do not add BOS/EOS as the model's metadata asks");
    cmd->add_flag("--no-parse-special", *no_special, "treat special-token text as plain text");
    out->push_back({cmd, [=]() {
      auto tok = LoadTokenizer(*model);
      if (!tok.ok()) return Fail(tok.status());
      std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      auto v = (*tok)->Encode(text, !*no_bos, !*no_special);
      nlohmann::json j = nlohmann::json::array();
      for (int32_t id : v) {
        if (*pieces) j.push_back((*tok)->TokenPiece(id));
        else j.push_back(id);
      }
      fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return 0;
    }});
  }
  {
    auto* cmd = app.add_subcommand("detokenize", "print the text of token ids (arguments or stdin)");
    auto model = std::make_shared<std::string>();
    auto ids = std::make_shared<std::string>();
    auto skip = std::make_shared<bool>(false);
    cmd->add_option("-m,--model", *model, "GGUF file (a vocab-only file is enough) or Hugging Face folder")->required();
    cmd->add_option("ids", *ids, "ids, e.g. 1,2,3 or [1, 2, 3] (default: read stdin)");
    cmd->add_flag("--skip-special", *skip, "leave out special tokens");
    out->push_back({cmd, [=]() {
      auto tok = LoadTokenizer(*model);
      if (!tok.ok()) return Fail(tok.status());
      std::string text = *ids;
      if (text.empty()) text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      auto v = ParseTokenList(text, "ids");
      if (!v.ok()) return Fail(v.status());
      for (int32_t id : *v)
        if (static_cast<size_t>(id) >= (*tok)->vocab_size())
          return Fail(Status::Errorf("token id {} is outside the vocabulary (size {})", id, (*tok)->vocab_size()));
      fmt::print("{}", (*tok)->Decode(*v, *skip));
      return 0;
    }});
  }
}

}  // namespace moe::cli
