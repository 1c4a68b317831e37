// `moe convert`: a Hugging Face folder to one GGUF file (model/convert.h).
#include <fmt/format.h>
#include <unistd.h>

#include "cli/common.h"
#include "model/convert.h"

namespace moe::cli {

void RegisterConvert(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("convert", "convert a Hugging Face folder (FP8 included) to a GGUF file");
  auto dir = std::make_shared<std::string>();
  auto type = std::make_shared<std::string>("bf16");
  auto path = std::make_shared<std::string>();
  cmd->add_option("dir", *dir, "Hugging Face folder (config.json, safetensors, tokenizer.json)")->required();
  cmd->add_option("--type", *type, "2-D weight type: f32 | bf16 | q8_0")->check(CLI::IsMember({"f32", "bf16", "q8_0"}));
  cmd->add_option("-o,--out", *path, "output GGUF file")->required();
  out->push_back({cmd, [=]() {
    // The progress line only on a terminal, as for loading and `moe synth`: logs stay clean.
    Status s = ConvertHfToGguf(*dir, *DTypeFromName(*type), *path, {.progress = isatty(STDERR_FILENO) != 0});
    if (!s.ok()) return Fail(s);
    fmt::print(stderr, "wrote {} ({})\n", *path, *type);
    return 0;
  }});
}

}  // namespace moe::cli
