// `moe`: the command-line entry point; each subcommand lives in its own cmd_*.cc.
#include <fmt/format.h>

#include "base/allocator.h"
#include "cli/common.h"

int main(int argc, char** argv) {
  moe::KeepTransientMemory();
  CLI::App app{"moe: run Mixture-of-Experts language models on the hardware you have"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "moe 0.1.0");
  std::vector<std::pair<CLI::App*, moe::cli::Action>> actions;
  moe::cli::RegisterRun(app, &actions);
  moe::cli::RegisterInfo(app, &actions);
  moe::cli::RegisterEvalLogits(app, &actions);
  moe::cli::RegisterBench(app, &actions);
  moe::cli::RegisterText(app, &actions);
  moe::cli::RegisterChat(app, &actions);
  moe::cli::RegisterServe(app, &actions);
  moe::cli::RegisterSynth(app, &actions);
  moe::cli::RegisterConvert(app, &actions);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "moe: {} (see moe --help)\n", e.what());
    return 1;
  }
  for (auto& [cmd, action] : actions)
    if (cmd->parsed()) return action();
  return 1;
}
