// `moe eval-logits`: one causal forward over given token ids, all positions' logits written
// as float32 little-endian [n_tokens, n_vocab] — the path the conformance tests use.
#include <fmt/format.h>

#include <cstdio>

#include "cli/common.h"
#include "model/eval.h"

namespace moe::cli {

void RegisterEvalLogits(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("eval-logits", "write the logits of every position of a token sequence");
  auto f = std::make_shared<CommonFlags>();
  auto tokens_file = std::make_shared<std::string>();
  auto out_path = std::make_shared<std::string>();
  AddModelFlags(cmd, f.get());
  cmd->add_option("--tokens-file", *tokens_file, "token ids: JSON array or whitespace-separated")->required();
  cmd->add_option("--out", *out_path, "output file, float32 [n_tokens, n_vocab]")->required();
  out->push_back({cmd, [=]() {
    auto tokens = ReadTokenFile(*tokens_file);
    if (!tokens.ok()) return Fail(tokens.status());
    auto model = LoadModel(*f);
    if (!model.ok()) return Fail(model.status());
    auto logits = EvalLogits(**model, *tokens, GlobalPool());
    if (!logits.ok()) return Fail(logits.status());
    FILE* fp = std::fopen(out_path->c_str(), "wb");
    if (!fp) return Fail(Status::Errorf("{}: cannot create", *out_path));
    size_t n = logits->size();
    bool ok = std::fwrite(logits->data(), sizeof(float), n, fp) == n;
    ok = std::fclose(fp) == 0 && ok;
    if (!ok) return Fail(Status::Errorf("{}: write failed", *out_path));
    return 0;
  }});
}

}  // namespace moe::cli
