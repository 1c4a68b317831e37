// `moe run`: generate from a prompt, streaming tokens as they come.
#include <fmt/format.h>

#include <cstdio>

#include "cli/common.h"
#include "engine/generate.h"

namespace moe::cli {

void RegisterRun(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("run", "generate text (or token ids) from a prompt");
  auto f = std::make_shared<CommonFlags>();
  auto g = std::make_shared<GenerateOptions>();
  auto tokens = std::make_shared<std::string>();
  auto ctx = std::make_shared<size_t>(0);
  AddModelFlags(cmd, f.get());
  cmd->add_option("--tokens", *tokens, "prompt as token ids, e.g. 1,2,3 (prints ids)")->required();
  cmd->add_option("-n,--n-predict", g->max_tokens, "tokens to generate")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-c,--ctx-size", *ctx, "context size (default: prompt + n)");
  cmd->add_option("--temp", g->sampling.temperature, "temperature (0: greedy)");
  cmd->add_option("--top-k", g->sampling.top_k, "keep the k most likely tokens (0: off)");
  cmd->add_option("--top-p", g->sampling.top_p, "nucleus sampling mass (1: off)");
  cmd->add_option("--min-p", g->sampling.min_p, "drop tokens below min-p x the top probability");
  cmd->add_option("--repeat-penalty", g->sampling.repetition_penalty, "penalty for repeated tokens (1: off)");
  cmd->add_option("--repeat-last-n", g->sampling.repeat_last_n, "window for the repetition penalty");
  cmd->add_option("--seed", g->sampling.seed, "sampling seed");
  out->push_back({cmd, [=]() {
    auto prompt = ParseTokenList(*tokens, "--tokens");
    if (!prompt.ok()) return Fail(prompt.status());
    auto model = LoadModel(*f);
    if (!model.ok()) return Fail(model.status());
    GenerateOptions opts = *g;
    opts.context_size = *ctx;
    if (auto eos = (*model)->gguf().GetIntOr("tokenizer.ggml.eos_token_id")) opts.stop_ids.push_back(static_cast<int32_t>(*eos));
    GenerateStats st;
    bool first = true;
    Status s = Generate(**model, *prompt, opts, GlobalPool(), [&](int32_t tok) {
      fmt::print("{}{}", first ? "" : ",", tok);
      first = false;
      std::fflush(stdout);
      return true;
    }, &st);
    fmt::print("\n");
    if (!s.ok()) return Fail(s);
    fmt::print(stderr, "prompt {} tokens in {:.3f} s ({:.1f} tok/s), generated {} tokens in {:.3f} s ({:.1f} tok/s)\n",
               st.prompt_tokens, st.prefill_seconds, st.prompt_tokens / std::max(st.prefill_seconds, 1e-9),
               st.generated_tokens, st.decode_seconds,
               st.generated_tokens > 1 ? (st.generated_tokens - 1) / std::max(st.decode_seconds, 1e-9) : 0.0);
    return 0;
  }});
}

}  // namespace moe::cli
