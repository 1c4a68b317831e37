// Tokenizer::FromHfJson: Hugging Face tokenizer.json (+ tokenizer_config.json) for byte-level
// BPE. Reads model.{vocab,merges,ignore_merges,unk_token}, added_tokens, the pre_tokenizer tree
// (ByteLevel, Split with a regex or string, Digits, Sequence) and the post_processor's BOS/EOS.
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace moe {
namespace {

using nlohmann::json;

constexpr const char* kSrc = "tokenizer.json";

// Escapes a literal string for PCRE2 (Split with a "String" pattern).
std::string QuoteRegex(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// Appends the regexes of one pre_tokenizer node (recursing into Sequence).
Status CollectPatterns(const json& node, const std::string& where, std::vector<std::string>* out,
                       std::vector<std::string>* warnings, int depth) {
  if (node.is_null()) return Status();
  if (depth > 8) return Status::Errorf("{}: {} nests too deeply", kSrc, where);
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) {
    return Status::Errorf("{}: {} is not an object with a string \"type\"", kSrc, where);
  }
  const std::string type = node["type"].get<std::string>();
  if (type == "Sequence") {
    const json* list = node.contains("pretokenizers") ? &node["pretokenizers"] : nullptr;
    if (!list || !list->is_array()) {
      return Status::Errorf("{}: {}.pretokenizers is missing or not an array", kSrc, where);
    }
    for (size_t i = 0; i < list->size(); ++i) {
      MOE_RETURN_IF_ERROR(CollectPatterns((*list)[i],
                                          where + ".pretokenizers[" + std::to_string(i) + "]", out,
                                          warnings, depth + 1));
    }
    return Status();
  }
  if (type == "ByteLevel") {
    if (node.value("add_prefix_space", false)) {
      warnings->push_back(where + ": ByteLevel add_prefix_space is not applied");
    }
    if (node.value("use_regex", true)) out->push_back(Gpt2Pattern());
    return Status();
  }
  if (type == "Split") {
    const json& pat = node.contains("pattern") ? node["pattern"] : json();
    std::string regex;
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
      regex = pat["Regex"].get<std::string>();
    } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
      regex = QuoteRegex(pat["String"].get<std::string>());
    } else {
      return Status::Errorf("{}: {}.pattern must be {{\"Regex\": ...}} or {{\"String\": ...}}",
                            kSrc, where);
    }
    const std::string behavior = node.value("behavior", std::string("Isolated"));
    if (behavior != "Isolated") {
      return Status::Errorf("{}: {}: Split behavior '{}' is not supported (only Isolated)", kSrc,
                            where, behavior);
    }
    if (node.value("invert", false)) {
      return Status::Errorf("{}: {}: Split with invert=true is not supported", kSrc, where);
    }
    out->push_back(std::move(regex));
    return Status();
  }
  if (type == "Digits") {
    out->push_back(node.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    return Status();
  }
  return Status::Errorf(
      "{}: {}: pre-tokenizer type '{}' is not supported (ByteLevel, Split, "
      "Digits, Sequence are)",
      kSrc, where, type);
}

// A special token name in tokenizer_config.json: "text" or {"content": "text", ...}.
std::string TokenName(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return {};
}

using Impl = Tokenizer::Impl;

// The loader proper; nlohmann::json may throw on type mismatches, which FromHfJson catches.
Result<std::unique_ptr<Impl>> BuildFromHfJson(const json& tj, const json* config) {
  auto impl = std::make_unique<Impl>();
  impl->source = kSrc;
  impl->pre = "tokenizer.json";
  if (!tj.is_object()) return Status::Errorf("{}: the document is not a JSON object", kSrc);
  if (!tj.contains("model") || !tj["model"].is_object()) {
    return Status::Errorf("{}: missing \"model\" object", kSrc);
  }
  const json& model = tj["model"];
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") {
    return Status::Errorf("{}: model.type is '{}'; only byte-level 'BPE' is supported", kSrc, type);
  }
  if (model.value("byte_fallback", false)) {
    return Status::Errorf(
        "{}: model.byte_fallback is true (SentencePiece-style BPE); only "
        "byte-level BPE tokenizer.json files are supported, use the GGUF",
        kSrc);
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return Status::Errorf("{}: model.vocab is missing or not an object", kSrc);
  }

  // Ids: the vocabulary plus added tokens; gaps stay undefined.
  constexpr int64_t kMaxId = std::numeric_limits<int32_t>::max() - 1;
  auto place = [&](int64_t id, const std::string& piece, TokenType t,
                   const std::string& where) -> Status {
    if (id < 0 || id > kMaxId) {
      return Status::Errorf("{}: {} has id {}, outside 0..{}", kSrc, where, id, kMaxId);
    }
    if (static_cast<size_t>(id) >= impl->pieces.size()) {
      if (static_cast<size_t>(id) > 4 * (model["vocab"].size() + 1024)) {
        return Status::Errorf("{}: {} has id {}, far beyond the {} vocabulary entries", kSrc, where,
                              id, model["vocab"].size());
      }
      impl->pieces.resize(id + 1);
      impl->types.resize(id + 1, TokenType::kUndefined);
    }
    impl->pieces[id] = piece;
    impl->types[id] = t;
    return Status();
  };
  const json& vocab = model["vocab"];
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const std::string& piece = it.key();
    const json& id = it.value();
    if (!id.is_number_integer()) {
      return Status::Errorf("{}: model.vocab['{}'] is not an integer id", kSrc, piece);
    }
    MOE_RETURN_IF_ERROR(
        place(id.get<int64_t>(), piece, TokenType::kNormal, "model.vocab['" + piece + "']"));
  }
  std::vector<std::pair<int32_t, uint8_t>> strips;
  if (tj.contains("added_tokens")) {
    const json& added = tj["added_tokens"];
    if (!added.is_array()) return Status::Errorf("{}: added_tokens is not an array", kSrc);
    for (size_t i = 0; i < added.size(); ++i) {
      const json& a = added[i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string()) {
        return Status::Errorf("{}: {} needs an integer \"id\" and a string \"content\"", kSrc,
                              where);
      }
      const bool special = a.value("special", false);
      const int64_t id = a["id"].get<int64_t>();
      MOE_RETURN_IF_ERROR(place(id, a["content"].get<std::string>(),
                                special ? TokenType::kControl : TokenType::kUserDefined, where));
      const uint8_t s = (a.value("lstrip", false) ? Impl::kLstrip : 0) |
                        (a.value("rstrip", false) ? Impl::kRstrip : 0);
      if (s) strips.emplace_back(static_cast<int32_t>(id), s);
    }
  }
  if (impl->pieces.empty()) return Status::Errorf("{}: model.vocab is empty", kSrc);

  std::vector<std::string> patterns;
  MOE_RETURN_IF_ERROR(CollectPatterns(tj.value("pre_tokenizer", json()), "pre_tokenizer", &patterns,
                                      &impl->warnings, 0));
  if (tj.contains("normalizer") && !tj["normalizer"].is_null()) {
    impl->warnings.push_back("tokenizer.json: the normalizer is not applied (as in llama.cpp)");
  }
  impl->ignore_merges = model.value("ignore_merges", false);

  // BOS/EOS from the post-processor template, then tokenizer_config.json.
  auto find_special = [&](const std::string& name) -> int32_t {
    for (size_t i = 0; i < impl->pieces.size(); ++i) {
      if (impl->pieces[i] == name) return static_cast<int32_t>(i);
    }
    return -1;
  };
  if (tj.contains("post_processor") && tj["post_processor"].is_object()) {
    const json& pp = tj["post_processor"];
    if (pp.value("type", std::string()) == "TemplateProcessing" && pp.contains("single") &&
        pp["single"].is_array()) {
      bool after_text = false;
      for (const json& item : pp["single"]) {
        if (item.contains("Sequence")) {
          after_text = true;
        } else if (item.contains("SpecialToken") && item["SpecialToken"].is_object()) {
          const int32_t id = find_special(TokenName(item["SpecialToken"].value("id", json())));
          if (id < 0) continue;
          if (after_text) {
            impl->eos = id;
            impl->add_eos = true;
          } else {
            impl->bos = id;
            impl->add_bos = true;
          }
        }
      }
    }
  }
  if (config && config->is_object()) {
    if (config->contains("bos_token")) {
      const int32_t id = find_special(TokenName((*config)["bos_token"]));
      if (id >= 0) impl->bos = id;
    }
    if (config->contains("eos_token")) {
      const int32_t id = find_special(TokenName((*config)["eos_token"]));
      if (id >= 0) impl->eos = id;
    }
    if (config->contains("pad_token")) impl->pad = find_special(TokenName((*config)["pad_token"]));
    for (const auto& [key, flag] : {std::pair<const char*, bool*>{"add_bos_token", &impl->add_bos},
                                    {"add_eos_token", &impl->add_eos}}) {
      if (!config->contains(key)) continue;
      const json& v = (*config)[key];
      if (!v.is_boolean()) {
        return Status::Errorf("tokenizer_config.json: \"{}\" is not a bool", key);
      }
      *flag = v.get<bool>();
    }
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    impl->unk = find_special(model["unk_token"].get<std::string>());
  }
  if (impl->add_bos && impl->bos < 0) {
    return Status::Errorf("{}: BOS is to be added but no bos token was found", kSrc);
  }
  if (impl->add_eos && impl->eos < 0) {
    return Status::Errorf("{}: EOS is to be added but no eos token was found", kSrc);
  }

  MOE_RETURN_IF_ERROR(impl->Finish());
  for (const auto& [id, s] : strips) impl->strip[id] = s;
  MOE_ASSIGN_OR_RETURN(auto splitter, RegexSplitter::Compile(patterns));
  impl->splitter = std::move(splitter);

  if (!model.contains("merges") || !model["merges"].is_array()) {
    return Status::Errorf("{}: model.merges is missing or not an array", kSrc);
  }
  const json& merges = model["merges"];
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string where = "model.merges[" + std::to_string(i) + "]";
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
      if (sp == std::string::npos) {
        return Status::Errorf("{}: {} = '{}' is not two pieces separated by a space", kSrc, where,
                              s);
      }
      MOE_RETURN_IF_ERROR(impl->AddMerge(i, std::string_view(s).substr(0, sp),
                                         std::string_view(s).substr(sp + 1), where));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      MOE_RETURN_IF_ERROR(
          impl->AddMerge(i, m[0].get<std::string>(), m[1].get<std::string>(), where));
    } else {
      return Status::Errorf("{}: {} is neither \"a b\" nor [\"a\", \"b\"]", kSrc, where);
    }
  }
  return impl;
}

}  // namespace

Result<std::string> Tokenizer::GgufPreName(const json& tokenizer_json, std::string_view preferred) {
  // llama.cpp's convert_hf_to_gguf.py probe (chktxt), abridged: the cases where the presets differ.
  static const std::string kProbe =
      "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ ✅ 🦙🦙 3 33 333 3333 33333 "
      "333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= "
      "нещо на Български ```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? "
      "'M not sure I'll make it, 'D you like some tea? We'Ve a'lL ひらがな カタカナ 한국어 x1y22z333 "
      "tab\tend  two  spaces   \r\n$100,000 {\"a\": [1, 2]} <|tag|> __init__ foo.bar(baz) αβγ ÀÉÎ";
  // One name per distinct preset of PreTokenizerForName (aliases left out).
  static const char* const kNames[] = {"gpt-2", "llama-bpe", "dbrx", "qwen2", "deepseek-v3", "deepseek-llm",
                                       "deepseek-coder", "starcoder", "falcon", "gpt-4o", "tekken", "bloom",
                                       "viking", "seed-coder", "bailingmoe", "default"};
  try {
    if (!tokenizer_json.is_object()) return Status::Errorf("{}: the document is not a JSON object", kSrc);
    std::vector<std::string> patterns, warnings;
    MOE_RETURN_IF_ERROR(
        CollectPatterns(tokenizer_json.value("pre_tokenizer", json()), "pre_tokenizer", &patterns, &warnings, 0));
    static const json kNone;  // a json() branch would make the ternary copy the whole vocab
    const json& model = tokenizer_json.contains("model") ? tokenizer_json["model"] : kNone;
    const bool ignore_merges = model.is_object() && model.value("ignore_merges", false);
    auto split = [](const RegexSplitter& s) {
      std::vector<TextSpan> pieces;
      s.Split(kProbe, &pieces);
      std::vector<std::pair<uint32_t, uint32_t>> out;
      for (const TextSpan& p : pieces) out.emplace_back(p.begin, p.end);
      return out;
    };
    MOE_ASSIGN_OR_RETURN(RegexSplitter hf, RegexSplitter::Compile(patterns));
    const auto want = split(hf);
    std::vector<std::string_view> names;
    if (!preferred.empty()) names.push_back(preferred);
    names.insert(names.end(), std::begin(kNames), std::end(kNames));
    for (std::string_view name : names) {
      const PreTokenizerPreset p = PreTokenizerForName(name);
      if (!p.known || p.ignore_merges != ignore_merges) continue;
      MOE_ASSIGN_OR_RETURN(RegexSplitter s, RegexSplitter::Compile(p.patterns));
      if (split(s) == want) return std::string(name);
    }
    return Status::Errorf("{}: the pre_tokenizer (ignore_merges {}) splits text unlike every tokenizer.ggml.pre "
                          "preset (tried {} and the llama.cpp presets), so no GGUF would tokenize like this folder",
                          kSrc, ignore_merges, preferred.empty() ? "none preferred" : std::string(preferred));
  } catch (const json::exception& e) {
    return Status::Errorf("{}: unexpected structure: {}", kSrc, e.what());
  }
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromHfJson(const json& tokenizer_json,
                                                         const json* tokenizer_config) {
  try {
    MOE_ASSIGN_OR_RETURN(auto impl, BuildFromHfJson(tokenizer_json, tokenizer_config));
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
  } catch (const json::exception& e) {
    return Status::Errorf("{}: unexpected structure: {}", kSrc, e.what());
  }
}

}  // namespace moe
