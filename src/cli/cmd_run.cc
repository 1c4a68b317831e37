// `moe run`: generate from a prompt (text, or token ids with --tokens), streaming the
// output as it comes.
#include <fmt/format.h>

#include <cstdio>

#include "cli/common.h"
#include "engine/generate.h"
#include "tokenizer/tokenizer.h"

namespace moe::cli {

void RegisterRun(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("run", "generate text from a prompt");
  auto f = std::make_shared<CommonFlags>();
  auto g = std::make_shared<GenerateOptions>();
  auto prompt_text = std::make_shared<std::string>();
  auto tokens = std::make_shared<std::string>();
  auto ctx = std::make_shared<size_t>(0);
  AddModelFlags(cmd, f.get());
  auto* p_opt = cmd->add_option("-p,--prompt", *prompt_text, "prompt text (special tokens written in it are recognised)");
  auto* t_opt = cmd->add_option("--tokens", *tokens, "prompt as token ids, e.g. 1,2,3 (prints ids)");
  p_opt->excludes(t_opt);
  cmd->add_option("-n,--n-predict", g->max_tokens, "tokens to generate")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-c,--ctx-size", *ctx, "context size (default: prompt + n)");
  AddSamplingFlags(cmd, &g->sampling);
  out->push_back({cmd, [=]() {
    if (prompt_text->empty() && tokens->empty()) return Fail(Status::Error("give a prompt with -p TEXT or --tokens IDS"));
    std::vector<int32_t> prompt;
    if (!tokens->empty()) {
      auto ids = ParseTokenList(*tokens, "--tokens");
      if (!ids.ok()) return Fail(ids.status());
      prompt = *ids;
    }
    auto model = LoadModel(*f);
    if (!model.ok()) return Fail(model.status());
    GenerateOptions opts = *g;
    opts.context_size = *ctx;
    std::unique_ptr<Tokenizer> tok;
    std::unique_ptr<StreamDecoder> stream;
    if (auto t = ModelTokenizer(**model, f->model); t.ok()) {
      tok = std::move(*t);
      opts.stop_ids = tok->EogIds();
    } else if (!prompt_text->empty()) {
      return Fail(t.status());
    } else if ((*model)->gguf()) {
      if (auto eos = (*model)->gguf()->GetIntOr("tokenizer.ggml.eos_token_id")) opts.stop_ids.push_back(static_cast<int32_t>(*eos));
    }
    if (const HfCheckpoint* hf = (*model)->hf())
      for (int64_t id : hf->generation.eos_token_ids) opts.stop_ids.push_back(static_cast<int32_t>(id));
    const bool text = !prompt_text->empty();
    if (text) {
      prompt = tok->Encode(*prompt_text, /*add_special=*/true, /*parse_special=*/true);
      stream = std::make_unique<StreamDecoder>(*tok, /*skip_special=*/true);
      fmt::print("{}", *prompt_text);
    }
    GenerateStats st;
    bool first = true;
    Status s = Generate(**model, prompt, opts, GlobalPool(), [&](int32_t id) {
      if (text) fmt::print("{}", stream->Push(id));
      else fmt::print("{}{}", first ? "" : ",", id);
      first = false;
      std::fflush(stdout);
      return true;
    }, &st);
    if (stream) fmt::print("{}", stream->Flush());
    fmt::print("\n");
    std::fflush(stdout);
    if (!s.ok()) return Fail(s);
    fmt::print(stderr, "prompt {} tokens in {:.3f} s ({:.1f} tok/s), generated {} tokens in {:.3f} s ({:.1f} tok/s)\n",
               st.prompt_tokens, st.prefill_seconds, st.prompt_tokens / std::max(st.prefill_seconds, 1e-9),
               st.generated_tokens, st.decode_seconds,
               st.generated_tokens > 1 ? (st.generated_tokens - 1) / std::max(st.decode_seconds, 1e-9) : 0.0);
    return 0;
  }});
}

}  // namespace moe::cli
