// `moe chat`: an interactive chat that renders the model's own chat template, and
// `moe template`: render any template with a JSON context, so templates can be checked from
// the command line.
#include <fmt/format.h>
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "engine/chat_prompt.h"
#include "engine/generate.h"
#include "model/synth.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace moe::cli {

namespace {

// Reads one user turn: a line, or several when lines end with '\' or are fenced by """.
bool ReadTurn(std::string* out) {
  out->clear();
  std::string line;
  bool fenced = false;
  while (std::getline(std::cin, line)) {
    if (line == "\"\"\"") {
      if (fenced) return true;
      fenced = true;
      continue;
    }
    if (fenced) {
      *out += line + "\n";
      continue;
    }
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      *out += line + "\n";
      continue;
    }
    *out += line;
    return true;
  }
  return !out->empty();
}

}  // namespace

void RegisterChat(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  {
    auto* cmd = app.add_subcommand("template", "render a chat template with a JSON context (exactly, to stdout)");
    auto tpl = std::make_shared<std::string>();
    auto ctx = std::make_shared<std::string>();
    cmd->add_option("--template", *tpl, "Jinja template file")->required();
    cmd->add_option("--context", *ctx, "JSON object whose keys become top-level variables")->required();
    out->push_back({cmd, [=]() {
      auto source = ReadTextFile(*tpl);
      if (!source.ok()) return Fail(source.status());
      auto text = ReadTextFile(*ctx);
      if (!text.ok()) return Fail(text.status());
      auto context = nlohmann::ordered_json::parse(*text, nullptr, false);
      if (context.is_discarded() || !context.is_object())
        return Fail(Status::Errorf("{}: not a JSON object", *ctx));
      auto r = RenderChatTemplate(*source, context);
      if (!r.ok()) return Fail(r.status());
      std::fwrite(r->data(), 1, r->size(), stdout);
      return 0;
    }});
  }
  auto* cmd = app.add_subcommand("chat", "chat interactively with a model (its own chat template)");
  auto f = std::make_shared<CommonFlags>();
  auto g = std::make_shared<GenerateOptions>();
  auto system = std::make_shared<std::string>();
  auto ctx = std::make_shared<size_t>(4096);
  g->max_tokens = 512;
  g->sampling.temperature = 0.7f;
  g->sampling.top_p = 0.95f;
  AddModelFlags(cmd, f.get());
  cmd->add_option("-s,--system", *system, "system prompt");
  cmd->add_option("-n,--n-predict", g->max_tokens, "most tokens per reply")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-c,--ctx-size", *ctx, "context size")->check(CLI::Range(16, 1 << 22));
  AddSamplingFlags(cmd, &g->sampling);
  out->push_back({cmd, [=]() {
    auto model = LoadModel(*f);
    if (!model.ok()) return Fail(model.status());
    auto tok = ModelTokenizer(**model, f->model);
    if (!tok.ok()) return Fail(tok.status());
    std::string source = ChatTemplateSource(**model, f->model);
    if (source.empty()) source = kChatMlTemplate;
    auto tmpl = ChatTemplate::Parse(source);
    if (!tmpl.ok()) return Fail(tmpl.status().WithContext("chat template"));
    GenerateOptions opts = *g;
    opts.context_size = *ctx;
    opts.stop_ids = (*tok)->EogIds();
    const bool tty = isatty(STDIN_FILENO);
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    if (!system->empty()) messages.push_back({{"role", "system"}, {"content", *system}});
    Session session;
    if (tty) fmt::print(stderr, "moe chat: type a message; end a line with \\ or fence with \"\"\" for more lines; /reset, /exit\n");
    std::string turn;
    while (true) {
      if (tty) fmt::print(stderr, "> ");
      if (!ReadTurn(&turn) || turn == "/exit") break;
      if (turn == "/reset") {
        messages.erase(messages.begin() + (system->empty() ? 0 : 1), messages.end());
        session = Session();
        fmt::print(stderr, "(conversation cleared)\n");
        continue;
      }
      if (turn.empty()) continue;
      messages.push_back({{"role", "user"}, {"content", turn}});
      auto prompt = BuildChatPrompt(*tmpl, **tok, messages);
      if (!prompt.ok()) return Fail(prompt.status().WithContext("chat template"));
      StreamDecoder stream(**tok, /*skip_special=*/true);
      std::vector<int32_t> reply;
      Status s = Generate(**model, prompt->tokens, opts, GlobalPool(), [&](int32_t id) {
        reply.push_back(id);
        fmt::print("{}", stream.Push(id));
        std::fflush(stdout);
        return true;
      }, nullptr, &session);
      fmt::print("{}\n", stream.Flush());
      if (!s.ok()) {
        fmt::print(stderr, "moe: {}\n", s.message());
        messages.erase(messages.end() - 1);
        session = Session();
        continue;
      }
      messages.push_back({{"role", "assistant"}, {"content", (*tok)->Decode(reply, /*skip_special=*/true)}});
    }
    return 0;
  }});
}

}  // namespace moe::cli
