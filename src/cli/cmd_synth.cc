// `moe synth`: write a random-weight model of a supported architecture (model/synth.h).
#include <fmt/format.h>
#include <unistd.h>

#include "cli/common.h"
#include "model/synth.h"

namespace moe::cli {

void RegisterSynth(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("synth", "write a random-weight model (GGUF) for demos, tests and benchmarks");
  auto o = std::make_shared<SynthOptions>();
  auto type = std::make_shared<std::string>("f32");
  auto path = std::make_shared<std::string>();
  cmd->add_option("--arch", o->arch, "llama | qwen3moe | deepseek-v3")->check(CLI::IsMember(SynthArchs()));
  cmd->add_option("--preset", o->preset, "tiny | small | bench")->check(CLI::IsMember(SynthPresets()));
  cmd->add_option("--type", *type, "weight type: f32 | f16 | bf16 | q8_0")->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));
  cmd->add_option("--seed", o->seed, "random seed");
  cmd->add_option("-o,--out", *path, "output GGUF file")->required();
  cmd->add_flag("--no-data", o->no_data, "leave the weights as zeros in a sparse file (shapes only, for tests)");
  out->push_back({cmd, [=]() {
    SynthOptions opts = *o;
    opts.type = *DTypeFromName(*type);
    opts.progress = isatty(STDERR_FILENO) != 0;
    Status s = SynthesizeModel(opts, *path);
    if (!s.ok()) return Fail(s);
    fmt::print(stderr, "wrote {} ({} {}, {})\n", *path, opts.arch, opts.preset, *type);
    return 0;
  }});
}

}  // namespace moe::cli
