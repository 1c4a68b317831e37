// Shared pieces of the `moe` subcommands: loading flags, thread flags, token-id parsing and
// the one-line error convention (print, exit 1).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/mapped_file.h"
#include "engine/sampler.h"
#include "model/model.h"

namespace moe {
class Tokenizer;
}

namespace moe::cli {

struct CommonFlags {
  std::string model;
  int threads = 0;  // 0: physical cores
  int mmap = 1;
  bool mlock = false;
  int act_quant = 1;  // fast path: activations rounded to the weights' dot-product format
  std::string repack = "all";  // weight types rewritten at load in the AVX-512 kernels' tiles
  std::string kv_type = "bf16";  // KV cache entries: f32 | bf16 | f16
  bool verbose = false;
};

// Adds -m, -t, --mmap, --mlock, --act-quant, --repack, --kv-type, -v to a subcommand.
void AddModelFlags(CLI::App* cmd, CommonFlags* f);
// Loads the model named by the flags, setting up the global thread pool first.
Result<std::unique_ptr<Model>> LoadModel(const CommonFlags& f);
// --repack's list ("bf16", "q8_0", "bf16,q8_0", "all", "none") as weight types.
Result<std::vector<DType>> ParseRepack(const std::string& list);

// Adds --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed.
void AddSamplingFlags(CLI::App* cmd, SamplingParams* p);

// A whole file as bytes; "PATH: cannot open" when it cannot be read.
Result<std::string> ReadTextFile(const std::string& path);

// Token ids from "1,2,3", or from a file holding a JSON array or whitespace-separated ids.
Result<std::vector<int32_t>> ParseTokenList(const std::string& text, const std::string& what);
Result<std::vector<int32_t>> ReadTokenFile(const std::string& path);

// The tokenizer of a GGUF file (metadata only) or a Hugging Face folder (tokenizer.json).
Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path);
// The tokenizer of a loaded model (`path` is where it was loaded from).
Result<std::unique_ptr<Tokenizer>> ModelTokenizer(const Model& m, const std::string& path);
// The model's own chat template source, or "" when it has none.
std::string ChatTemplateSource(const Model& m, const std::string& path);

// Prints "moe: <message>" on stderr and returns exit code 1.
int Fail(const Status& s);

// Each subcommand registers its flags and the action run when it is chosen.
using Action = std::function<int()>;
void RegisterRun(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);
void RegisterInfo(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);
void RegisterEvalLogits(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);
void RegisterConvert(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);
void RegisterBench(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);
void RegisterText(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);
void RegisterChat(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);
void RegisterSynth(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);
void RegisterServe(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out);

}  // namespace moe::cli
