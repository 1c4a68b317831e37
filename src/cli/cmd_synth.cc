// `moe synth`: write a random-weight model of a supported architecture, as a GGUF file
// (model/synth.h) or a Hugging Face folder (model/synth_hf.h).
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

#include "cli/common.h"
#include "model/synth.h"
#include "model/synth_hf.h"

namespace moe::cli {

void RegisterSynth(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("synth", "write a random-weight model (GGUF file or Hugging Face folder) for demos, "
                                          "tests and benchmarks");
  auto o = std::make_shared<SynthOptions>();
  auto type = std::make_shared<std::string>("f32");
  auto format = std::make_shared<std::string>("gguf");
  auto shard_gb = std::make_shared<double>(4.0);
  auto path = std::make_shared<std::string>();
  cmd->add_option("--arch", o->arch, "llama | qwen3moe | deepseek-v3")->check(CLI::IsMember(SynthArchs()));
  cmd->add_option("--preset", o->preset, "tiny | small | bench")->check(CLI::IsMember(SynthPresets()));
  cmd->add_option("--format", *format, "gguf (one file) | hf (Hugging Face folder: config.json, safetensors, "
                                       "tokenizer.json)")->check(CLI::IsMember({"gguf", "hf"}));
  cmd->add_option("--type", *type, "weight type: f32 | f16 | bf16 | q8_0 (gguf only) | f8 (hf only: DeepSeek FP8 "
                                   "e4m3 with 128x128 block scales)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "f8"}));
  cmd->add_option("--seed", o->seed, "random seed");
  auto* shard_opt = cmd->add_option("--shard-size", *shard_gb, "hf: most GB (1e9 bytes) per safetensors shard, "
                                                              "fractions allowed")->check(CLI::PositiveNumber);
  cmd->add_option("-o,--out", *path, "output GGUF file, or folder with --format hf")->required();
  cmd->add_flag("--no-data", o->no_data, "leave the weights as zeros in sparse files (shapes only, for tests)");
  cmd->add_flag("--split-kv-b", o->split_kv_b,
                "deepseek-v3 gguf: write attn_kv_b as attn_k_b + attn_v_b per head, as newer llama.cpp conversions do");
  out->push_back({cmd, [=]() {
    SynthOptions opts = *o;
    opts.type = *type == "f8" ? DType::kF8E4M3 : *DTypeFromName(*type);
    opts.progress = isatty(STDERR_FILENO) != 0;
    if (!(*shard_gb * 1e9 >= 1 && *shard_gb * 1e9 < 9e18))
      return Fail(Status::Errorf("synth: --shard-size {} GB is out of range (at least one byte)", *shard_gb));
    opts.shard_bytes = static_cast<uint64_t>(std::llround(*shard_gb * 1e9));
    const bool hf = *format == "hf";
    if (!hf && shard_opt->count() > 0)
      return Fail(Status::Errorf("synth: --shard-size applies to --format hf (a GGUF file is one file)"));
    if (hf && opts.split_kv_b)
      return Fail(Status::Errorf("synth: --split-kv-b applies to --format gguf (Hugging Face folders keep kv_b_proj)"));
    Status s = hf ? SynthesizeHfFolder(opts, *path) : SynthesizeModel(opts, *path);
    if (!s.ok()) return Fail(s);
    fmt::print(stderr, "wrote {} ({} {}, {}{})\n", *path, opts.arch, opts.preset, *type,
               hf ? ", Hugging Face folder" : "");
    return 0;
  }});
}

}  // namespace moe::cli
