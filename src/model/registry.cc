// The table of model families, by GGUF general.architecture.
#include "model/arch/families.h"
#include "model/model.h"

namespace moe {

namespace {
const Family kFamilies[] = {
    {"llama", ParseLlama, BindLlama},
    {"qwen3", ParseLlama, BindLlama},
    {"qwen3moe", ParseQwen3Moe, BindQwen3Moe},
    {"deepseek2", ParseDeepseek2, BindDeepseek2},
};
}  // namespace

const Family* FindFamily(const std::string& arch) {
  for (const Family& f : kFamilies)
    if (arch == f.gguf_arch) return &f;
  return nullptr;
}

std::vector<std::string> SupportedArchitectures() {
  std::vector<std::string> out;
  for (const Family& f : kFamilies) out.push_back(f.gguf_arch);
  return out;
}

}  // namespace moe
