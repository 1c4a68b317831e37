// Weights repacked at load (LoadOptions::repack, kernels/cpu/weight_tiles.h: Q8_0 and BF16
// tiles) change how the bytes are ordered, never a result: logits of a repacked model equal
// those of the same file loaded as stored, bit for bit, on the fast path and on the exact one
// (which untiles).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "base/memory_info.h"
#include "kernels/cpu/matmul.h"
#include "model/model.h"
#include "model/synth.h"
#include "forward_logits.h"

namespace moe {
namespace {

const std::string kKit = std::string(MOE_TEST_DATA) + "/conformance/";

// A 7-token prompt in one pass, then two decoded tokens: the GEMM and decode kernels.
std::vector<float> Logits(const Model& m, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  return test::PrefillThenDecodeLogits(m, tokens, 7, pool);
}

void ExpectSameLogits(const std::string& path, DType dt, bool expect_tiles) {
  auto stored = Model::Load(path, {.repack = {}});
  auto tiled = Model::Load(path, {.repack = {dt}});
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  ASSERT_TRUE(tiled.ok()) << tiled.status().message();
  EXPECT_EQ((*stored)->repacked_bytes(), 0u);
  if (!UsesQuantizedActs(dt)) {
    EXPECT_EQ((*tiled)->repacked_bytes(), 0u) << "tiles only where the AVX-512 kernels run";
    return;
  }
  if (expect_tiles) {
    EXPECT_GT((*tiled)->repacked_bytes(), (*tiled)->stats().weight_bytes / 2) << path;
  }
  std::mt19937 rng(5);
  std::vector<int32_t> tokens(9);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % (*stored)->config().vocab_size);
  ThreadPool pool(2);
  for (bool fast : {true, false}) {
    (*stored)->SetQuantizedActivations(fast);
    (*tiled)->SetQuantizedActivations(fast);
    const std::vector<float> want = Logits(**stored, tokens, pool), got = Logits(**tiled, tokens, pool);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
        << path << (fast ? " fast" : " exact") << ": tiled logits differ";
  }
}

TEST(Repack, KitModelsGiveTheSameLogits) {
  for (const char* name : {"qwen3moe-q8_0", "deepseek2-q8_0"}) ExpectSameLogits(kKit + name + "/model.gguf", DType::kQ8_0, false);
  for (const char* name : {"qwen3moe-bf16", "deepseek2-bf16"}) ExpectSameLogits(kKit + name + "/model.gguf", DType::kBF16, false);
}

// Synth models whose every matrix but kv_b, the router and the embedding fills whole tiles.
TEST(Repack, SynthModelsTileMostBytesAndGiveTheSameLogits) {
  for (DType dt : {DType::kQ8_0, DType::kBF16})
    for (const char* arch : {"deepseek-v3", "qwen3moe", "deepseek-v3-split"}) {
      // deepseek-v3-split: kv_b stored as per-head k_b / v_b stacks, which are tiled too.
      const std::string name = arch, path = ::testing::TempDir() + "/repack_" + name + ".gguf";
      const bool split = name.ends_with("-split");
      ASSERT_TRUE(SynthesizeModel({.arch = split ? "deepseek-v3" : arch, .preset = "small", .type = dt,
                                   .split_kv_b = split}, path).ok());
      ExpectSameLogits(path, dt, true);
      std::remove(path.c_str());
    }
}

// A mapped model is repacked only within the memory allowed: beyond it the weights keep their
// rows (and stay shared with the page cache) and the model says why; read into memory
// (--mmap 0) it is repacked whatever the limit, the bytes being private already.
TEST(Repack, MappedModelsBeyondTheMemoryLimitKeepTheirRows) {
  ASSERT_TRUE(AvailableMemoryBytes().has_value()) << "/proc/meminfo MemAvailable";
  EXPECT_GT(*AvailableMemoryBytes(), 0u);
  if (!UsesQuantizedActs(DType::kQ8_0)) GTEST_SKIP() << "no Q8_0 tiles on this CPU";
  const std::string path = ::testing::TempDir() + "/repack_limit.gguf";
  ASSERT_TRUE(SynthesizeModel({.arch = "qwen3moe", .preset = "small", .type = DType::kQ8_0}, path).ok());
  auto over = Model::Load(path, {.mmap = true, .repack = {DType::kQ8_0}, .repack_memory_limit = 4096});
  ASSERT_TRUE(over.ok()) << over.status().message();
  EXPECT_EQ((*over)->repacked_bytes(), 0u);
  EXPECT_NE((*over)->repack_skipped().find("not repacked"), std::string::npos) << (*over)->repack_skipped();
  auto read = Model::Load(path, {.mmap = false, .repack = {DType::kQ8_0}, .repack_memory_limit = 4096});
  ASSERT_TRUE(read.ok());
  EXPECT_GT((*read)->repacked_bytes(), 0u);
  EXPECT_TRUE((*read)->repack_skipped().empty());
  auto within = Model::Load(path, {.mmap = true, .repack = {DType::kQ8_0}, .repack_memory_limit = uint64_t{1} << 40});
  ASSERT_TRUE(within.ok());
  EXPECT_EQ((*within)->repacked_bytes(), (*read)->repacked_bytes());
  EXPECT_TRUE((*within)->repack_skipped().empty());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace moe
