#include "cli/common.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "base/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace moe::cli {

void AddModelFlags(CLI::App* cmd, CommonFlags* f) {
  cmd->add_option("-m,--model", f->model, "GGUF model file or Hugging Face folder")->required();
  cmd->add_option("-t,--threads", f->threads, "worker threads (default: physical cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--mmap", f->mmap, "1: memory-map the weights (default); 0: read them into memory")->check(CLI::Range(0, 1));
  cmd->add_flag("--mlock", f->mlock, "lock the weights in RAM");
  cmd->add_option("--act-quant", f->act_quant,
                  "1: round activations to Q8_0 blocks for int8 dot products where faster (default, as ggml); "
                  "0: float32 activations (exact)")->check(CLI::Range(0, 1));
  cmd->add_option("--repack", f->repack,
                  "weight types rewritten at load in the AVX-512 kernels' 16-row tiles where those kernels run: "
                  "all (default: bf16 and q8_0), bf16, q8_0, bf16,q8_0 or none (mapped pages written become "
                  "private memory; skipped, with a note, when the mapped model exceeds the memory available)")
      ->check([](const std::string& v) { return ParseRepack(v).ok() ? std::string() : ParseRepack(v).status().message(); });
  cmd->add_option("--kv-type", f->kv_type,
                  "KV cache entries: bf16 (default) | f16 (16-bit: half the bytes read per cached token) | f32 (exact)")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));
  cmd->add_flag("-v,--verbose", f->verbose, "more detail");
}

void AddSamplingFlags(CLI::App* cmd, SamplingParams* p) {
  cmd->add_option("--temp", p->temperature, "temperature (0: greedy)");
  cmd->add_option("--top-k", p->top_k, "keep the k most likely tokens (0: off)");
  cmd->add_option("--top-p", p->top_p, "nucleus sampling mass (1: off)");
  cmd->add_option("--min-p", p->min_p, "drop tokens below min-p x the top probability");
  cmd->add_option("--repeat-penalty", p->repetition_penalty, "penalty for repeated tokens (1: off)");
  cmd->add_option("--repeat-last-n", p->repeat_last_n, "window for the repetition penalty");
  cmd->add_option("--seed", p->seed, "sampling seed");
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Errorf("{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::vector<DType>> ParseRepack(const std::string& list) {
  if (list == "none") return std::vector<DType>{};
  if (list == "all") return std::vector<DType>{DType::kBF16, DType::kQ8_0};
  std::vector<DType> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (item == "bf16") out.push_back(DType::kBF16);
    else if (item == "q8_0") out.push_back(DType::kQ8_0);
    else return Status::Errorf("--repack: '{}' is not a weight type that has tiles (expected bf16, q8_0, all or none)", item);
  }
  return out;
}

Result<std::unique_ptr<Model>> LoadModel(const CommonFlags& f) {
  SetGlobalPoolThreads(f.threads);
  // Tiles only pay on the fast path: float32 activations would untile them per product.
  MOE_ASSIGN_OR_RETURN(std::vector<DType> repack, ParseRepack(f.repack));
  LoadOptions o{.mmap = f.mmap != 0, .mlock = f.mlock, .progress = isatty(STDERR_FILENO) != 0,
                .repack = f.act_quant != 0 ? repack : std::vector<DType>{}};
  MOE_ASSIGN_OR_RETURN(auto m, Model::Load(f.model, o));
  if (!m->repack_skipped().empty()) fmt::print(stderr, "note: {}\n", m->repack_skipped());
  m->SetQuantizedActivations(f.act_quant != 0);
  m->SetKvType(*DTypeFromName(f.kv_type));  // one of IsKvDType's, checked by the flag
  return m;
}

Result<std::vector<int32_t>> ParseTokenList(const std::string& text, const std::string& what) {
  std::vector<int32_t> out;
  std::string t = text;
  for (char& c : t)
    if (c == ',' || c == '[' || c == ']' || c == '\n' || c == '\t' || c == '\r') c = ' ';
  std::istringstream in(t);
  std::string word;
  while (in >> word) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
    if (ec != std::errc() || p != word.data() + word.size() || v < 0 || v > INT32_MAX)
      return Status::Errorf("{}: '{}' is not a token id (expected non-negative integers)", what, word);
    out.push_back(static_cast<int32_t>(v));
    if (out.size() > (1u << 24)) return Status::Errorf("{}: more than {} token ids", what, 1u << 24);
  }
  if (out.empty()) return Status::Errorf("{}: no token ids", what);
  return out;
}

Result<std::vector<int32_t>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Errorf("{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  auto first = s.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && s[first] == '[') {
    auto j = nlohmann::json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return Status::Errorf("{}: not a JSON array of token ids", path);
    std::vector<int32_t> out;
    for (auto& v : j) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
        return Status::Errorf("{}: element {} is not a token id", path, v.dump());
      out.push_back(v.get<int32_t>());
    }
    if (out.empty()) return Status::Errorf("{}: no token ids", path);
    return out;
  }
  return ParseTokenList(s, path);
}

int Fail(const Status& s) {
  fmt::print(stderr, "moe: {}\n", s.message());
  return 1;
}

}  // namespace moe::cli
