// libFuzzer target: arbitrary bytes as a GGUF file, then as a model (config parse + bind).
// Must never crash, hang or allocate without bound; errors are fine.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/gguf.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = moe::MappedFile::FromBytes(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
  auto g = moe::GgufFile::Parse(file, "fuzz.gguf");
  if (!g.ok()) return 0;
  for (auto& [key, v] : g->metadata()) {
    (void)v.AsInt();
    (void)v.AsDouble();
  }
  if (auto arch = g->GetString("general.architecture"); arch.ok()) {
    if (const moe::Family* f = moe::FindFamily(*arch)) {
      auto cfg = f->parse(*g);
      if (cfg.ok() && cfg->Validate().ok()) {
        moe::Binder b(g->tensors(), "fuzz.gguf");
        moe::ModelWeights w;
        (void)f->bind(*cfg, b, &w);
      }
    }
  }
  return 0;
}
