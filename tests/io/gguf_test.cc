// GGUF reader: round trip through the writer, every metadata value type (built by hand),
// alignment, and a hostile-file suite — each broken file gives a clear error, never a crash
// or a huge allocation (run under the asan preset too).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/gguf_writer.h"

namespace moe {
namespace {

// Builds GGUF bytes field by field, so tests can write what the writer never would.
struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  Bytes& Put(T v) {
    size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  Bytes& Str(const std::string& s) {
    Put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Put<uint32_t>(0x46554747).Put<uint32_t>(version).Put(n_tensors).Put(n_kv);
  }
  Bytes& TensorInfo(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    Str(name).Put<uint32_t>(static_cast<uint32_t>(dims.size()));
    for (auto d : dims) Put(d);
    return Put(type).Put(offset);
  }
  Bytes& Align(size_t a = 32) {
    b.resize((b.size() + a - 1) / a * a, 0);
    return *this;
  }
  Bytes& Zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
};

Result<GgufFile> ParseBytes(std::vector<uint8_t> b) {
  return GgufFile::Parse(MappedFile::FromBytes(std::move(b), "test.gguf"), "test.gguf");
}

std::string ErrorOf(std::vector<uint8_t> b) {
  auto r = ParseBytes(std::move(b));
  return r.ok() ? "" : r.status().message();
}

TEST(Gguf, EveryValueType) {
  Bytes f;
  f.Header(0, 13);
  f.Str("u8").Put<uint32_t>(0).Put<uint8_t>(200);
  f.Str("i8").Put<uint32_t>(1).Put<int8_t>(-5);
  f.Str("u16").Put<uint32_t>(2).Put<uint16_t>(60000);
  f.Str("i16").Put<uint32_t>(3).Put<int16_t>(-30000);
  f.Str("u32").Put<uint32_t>(4).Put<uint32_t>(4000000000u);
  f.Str("i32").Put<uint32_t>(5).Put<int32_t>(-2000000000);
  f.Str("f32").Put<uint32_t>(6).Put<float>(1.5f);
  f.Str("bool").Put<uint32_t>(7).Put<uint8_t>(1);
  f.Str("str").Put<uint32_t>(8).Str("héllo");
  f.Str("arr").Put<uint32_t>(9).Put<uint32_t>(5).Put<uint64_t>(3).Put<int32_t>(1).Put<int32_t>(2).Put<int32_t>(3);
  f.Str("u64").Put<uint32_t>(10).Put<uint64_t>(1ull << 40);
  f.Str("i64").Put<uint32_t>(11).Put<int64_t>(-(1ll << 40));
  f.Str("nested").Put<uint32_t>(9).Put<uint32_t>(9).Put<uint64_t>(1).Put<uint32_t>(8).Put<uint64_t>(2).Str("a").Str("bc");
  auto g = ParseBytes(f.b);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(*g->Find("u8")->AsInt(), 200);
  EXPECT_EQ(*g->Find("i8")->AsInt(), -5);
  EXPECT_EQ(*g->Find("u16")->AsInt(), 60000);
  EXPECT_EQ(*g->Find("i16")->AsInt(), -30000);
  EXPECT_EQ(*g->Find("u32")->AsInt(), 4000000000ll);
  EXPECT_EQ(*g->Find("i32")->AsInt(), -2000000000);
  EXPECT_EQ(*g->Find("f32")->AsDouble(), 1.5);
  EXPECT_EQ(*g->Find("bool")->AsBool(), true);
  EXPECT_EQ(*g->Find("str")->AsString(), "héllo");
  EXPECT_EQ(g->Find("arr")->AsArray()->items.size(), 3u);
  EXPECT_EQ(*g->Find("arr")->AsArray()->items[2].AsInt(), 3);
  EXPECT_EQ(*g->Find("u64")->AsInt(), 1ll << 40);
  EXPECT_EQ(*g->Find("i64")->AsInt(), -(1ll << 40));
  auto* nested = g->Find("nested")->AsArray();
  ASSERT_EQ(nested->items.size(), 1u);
  EXPECT_EQ(*nested->items[0].AsArray()->items[1].AsString(), "bc");
  EXPECT_FALSE(g->GetString("u8").ok());
  EXPECT_NE(g->GetInt("missing").status().message().find("missing metadata key 'missing'"), std::string::npos);
}

TEST(Gguf, WriterRoundTripWithTensorsAndAlignment) {
  std::string path = ::testing::TempDir() + "/roundtrip.gguf";
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetU32("n", 7);
  w.SetF32Array("fa", {1.0f, 2.0f});
  w.SetStringArray("sa", {"x", "yz"});
  w.AddTensor("a", 0, {3, 5});  // F32 [3, 5]: 60 bytes, next offset aligned to 32
  w.AddTensor("b", 8, {2, 64}); // Q8_0: 2 rows of 2 blocks
  ASSERT_TRUE(w.Begin(path).ok());
  std::vector<float> a(15);
  for (int i = 0; i < 15; ++i) a[i] = static_cast<float>(i);
  ASSERT_TRUE(w.WriteTensor(a.data(), 60).ok());
  std::vector<uint8_t> q(4 * 34, 7);
  ASSERT_TRUE(w.WriteTensor(q.data(), q.size()).ok());
  ASSERT_TRUE(w.Finish().ok());
  auto g = GgufFile::Open(path);
  ASSERT_TRUE(g.ok()) << g.status().message();
  const TensorEntry* ta = g->tensors().Find("a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<uint64_t>{3, 5}));  // PyTorch order
  EXPECT_EQ(ta->data[4 * 4], static_cast<uint8_t>(0));
  float f;
  std::memcpy(&f, ta->data + 14 * 4, 4);
  EXPECT_EQ(f, 14.0f);
  const TensorEntry* tb = g->tensors().Find("b");
  EXPECT_EQ(tb->file_offset % 32, 0u);
  EXPECT_EQ(tb->nbytes, 4u * 34);
  EXPECT_EQ(*tb->dtype, DType::kQ8_0);
  EXPECT_EQ(g->Find("sa")->AsArray()->items.size(), 2u);
  std::filesystem::remove(path);
}

// Read into memory (--mmap 0), the data section lands on a 64-byte boundary whatever its
// offset in the file (a multiple of 32): the tiled kernels load whole 64-byte vectors.
TEST(Gguf, ReadIntoMemoryPutsTheDataOnACacheLine) {
  for (size_t pad : {0, 1, 2, 3}) {  // header lengths 32 apart: both residues mod 64 occur
    const std::string path = ::testing::TempDir() + "/aligned" + std::to_string(pad) + ".gguf";
    GgufWriter w;
    w.SetString("general.architecture", "llama");
    w.SetString("pad", std::string(32 * pad, 'x'));
    w.AddTensor("t", 8, {16, 64});
    ASSERT_TRUE(w.Begin(path).ok());
    std::vector<uint8_t> q(16 * 2 * 34, 3);
    ASSERT_TRUE(w.WriteTensor(q.data(), q.size()).ok());
    ASSERT_TRUE(w.Finish().ok());
    auto read = GgufFile::Open(path, {.mmap = false});
    auto mapped = GgufFile::Open(path, {.mmap = true});
    ASSERT_TRUE(read.ok()) << read.status().message();
    ASSERT_TRUE(mapped.ok());
    const TensorEntry* t = read->tensors().Find("t");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % 64, 0u) << "data offset " << read->data_offset();
    EXPECT_EQ(std::memcmp(t->data, q.data(), q.size()), 0);
    // Mapped, the file's own offset decides (page-aligned mapping).
    EXPECT_EQ(reinterpret_cast<uintptr_t>(mapped->tensors().Find("t")->data) % 64, mapped->data_offset() % 64);
    std::filesystem::remove(path);
  }
}

TEST(Gguf, UnsupportedTensorTypeIsNamed) {
  Bytes f;
  f.Header(1, 0).TensorInfo("blk.3.ffn_down_exps.weight", {256, 2}, 11, 0).Align().Zeros(2 * 110);
  auto g = ParseBytes(f.b);
  ASSERT_TRUE(g.ok()) << g.status().message();
  const TensorEntry* t = g->tensors().Find("blk.3.ffn_down_exps.weight");
  EXPECT_FALSE(t->dtype.has_value());
  EXPECT_EQ(GgmlTypeName(t->ggml_type), "Q3_K");
}

// ---- hostile files ----

std::vector<uint8_t> ValidFile() {
  Bytes f;
  f.Header(2, 2);
  f.Str("general.architecture").Put<uint32_t>(8).Str("llama");
  f.Str("list").Put<uint32_t>(9).Put<uint32_t>(8).Put<uint64_t>(2).Str("ab").Str("c");
  f.TensorInfo("w", {4, 2}, 0, 0).TensorInfo("v", {32}, 8, 32);
  f.Align().Zeros(32 + 34);
  return f.b;
}

TEST(GgufHostile, ValidBaselineParses) { EXPECT_EQ(ErrorOf(ValidFile()), ""); }

TEST(GgufHostile, EveryTruncationFailsCleanly) {
  auto full = ValidFile();
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + n);
    EXPECT_NE(ErrorOf(cut), "") << "prefix of " << n << " bytes parsed";
  }
}

TEST(GgufHostile, WrongMagic) {
  auto b = ValidFile();
  b[0] = 'X';
  EXPECT_NE(ErrorOf(b).find("not a GGUF file"), std::string::npos);
}

TEST(GgufHostile, UnsupportedVersion) {
  Bytes f;
  f.Header(0, 0, 1).Zeros(8);
  EXPECT_NE(ErrorOf(f.b).find("version 1 is not supported"), std::string::npos);
  Bytes g;
  g.Header(0, 0, 4).Zeros(8);
  EXPECT_NE(ErrorOf(g.b).find("version 4"), std::string::npos);
}

TEST(GgufHostile, CountsBeyondTheFile) {
  Bytes f;
  f.Header(1ull << 60, 0).Zeros(64);
  EXPECT_NE(ErrorOf(f.b).find("tensors, more than"), std::string::npos);
  Bytes g;
  g.Header(0, ~0ull).Zeros(64);
  EXPECT_NE(ErrorOf(g.b).find("metadata entries, more than"), std::string::npos);
}

TEST(GgufHostile, StringLengthOverflow) {
  Bytes f;
  f.Header(0, 1).Put<uint64_t>(~0ull).Zeros(16);
  EXPECT_NE(ErrorOf(f.b).find("length"), std::string::npos);
  Bytes g;
  g.Header(0, 1).Str("k").Put<uint32_t>(8).Put<uint64_t>(1ull << 62).Zeros(16);
  EXPECT_NE(ErrorOf(g.b).find("over the limit"), std::string::npos);
}

TEST(GgufHostile, ArrayCountBeyondTheFile) {
  Bytes f;
  f.Header(0, 1).Str("k").Put<uint32_t>(9).Put<uint32_t>(6).Put<uint64_t>(1ull << 25).Zeros(16);
  EXPECT_NE(ErrorOf(f.b).find("only"), std::string::npos);
}

TEST(GgufHostile, DeeplyNestedArrays) {
  Bytes f;
  f.Header(0, 1).Str("k");
  f.Put<uint32_t>(9);
  for (int i = 0; i < 100; ++i) f.Put<uint32_t>(9).Put<uint64_t>(1);
  f.Put<uint32_t>(0).Put<uint64_t>(0);
  EXPECT_NE(ErrorOf(f.b).find("nested deeper"), std::string::npos);
}

TEST(GgufHostile, UnknownValueType) {
  Bytes f;
  f.Header(0, 1).Str("k").Put<uint32_t>(99).Zeros(8);
  EXPECT_NE(ErrorOf(f.b).find("unknown value type 99"), std::string::npos);
}

TEST(GgufHostile, InvalidBool) {
  Bytes f;
  f.Header(0, 1).Str("k").Put<uint32_t>(7).Put<uint8_t>(2).Zeros(8);
  EXPECT_NE(ErrorOf(f.b).find("expected 0 or 1"), std::string::npos);
}

TEST(GgufHostile, TensorDataBeyondTheEnd) {
  Bytes f;
  f.Header(1, 0).TensorInfo("w", {1024, 1024}, 0, 0).Align().Zeros(64);
  EXPECT_NE(ErrorOf(f.b).find("beyond the end of the file"), std::string::npos);
  Bytes g;
  g.Header(1, 0).TensorInfo("w", {8}, 0, ~0ull - 31).Align().Zeros(64);
  EXPECT_NE(ErrorOf(g.b).find("beyond the end"), std::string::npos);
}

TEST(GgufHostile, DimsWhoseProductOverflows) {
  Bytes f;
  f.Header(1, 0).TensorInfo("w", {1ull << 32, 1ull << 32, 1ull << 32}, 0, 0).Align().Zeros(64);
  EXPECT_NE(ErrorOf(f.b).find("overflows"), std::string::npos);
  Bytes g;
  g.Header(1, 0).TensorInfo("w", {4, 0}, 0, 0).Align().Zeros(64);
  EXPECT_NE(ErrorOf(g.b).find("zero"), std::string::npos);
}

TEST(GgufHostile, TooManyDims) {
  Bytes f;
  f.Header(1, 0).TensorInfo("w", {1, 1, 1, 1, 1}, 0, 0).Align().Zeros(64);
  EXPECT_NE(ErrorOf(f.b).find("dimensions"), std::string::npos);
}

TEST(GgufHostile, DuplicateNames) {
  Bytes f;
  f.Header(2, 0).TensorInfo("w", {8}, 0, 0).TensorInfo("w", {8}, 0, 32).Align().Zeros(64);
  EXPECT_NE(ErrorOf(f.b).find("duplicate tensor name 'w'"), std::string::npos);
  Bytes g;
  g.Header(0, 2).Str("k").Put<uint32_t>(4).Put<uint32_t>(1).Str("k").Put<uint32_t>(4).Put<uint32_t>(2);
  EXPECT_NE(ErrorOf(g.b).find("duplicate metadata key 'k'"), std::string::npos);
}

TEST(GgufHostile, BlockMisalignedRowAndBadOffsets) {
  Bytes f;
  f.Header(1, 0).TensorInfo("q", {33}, 8, 0).Align().Zeros(64);
  EXPECT_NE(ErrorOf(f.b).find("not a multiple of its block size"), std::string::npos);
  Bytes g;
  g.Header(1, 0).TensorInfo("w", {8}, 0, 3).Align().Zeros(64);
  EXPECT_NE(ErrorOf(g.b).find("not aligned"), std::string::npos);
  Bytes h;
  h.Header(1, 0).TensorInfo("w", {8}, 77, 0).Align().Zeros(64);
  EXPECT_NE(ErrorOf(h.b).find("unknown type id 77"), std::string::npos);
}

TEST(GgufHostile, BadAlignmentKey) {
  Bytes f;
  f.Header(0, 1).Str("general.alignment").Put<uint32_t>(4).Put<uint32_t>(48);
  EXPECT_NE(ErrorOf(f.b).find("power of two"), std::string::npos);
}

// Random single-byte corruptions of a valid file: parse must return (ok or error), never crash.
TEST(GgufHostile, BitFlipsNeverCrash) {
  auto base = ValidFile();
  uint64_t s = 12345;
  for (int iter = 0; iter < 5000; ++iter) {
    auto b = base;
    for (int k = 0; k < 3; ++k) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      b[(s >> 33) % b.size()] ^= static_cast<uint8_t>(1u << ((s >> 13) & 7));
    }
    (void)ParseBytes(std::move(b));
  }
}

TEST(Gguf, MissingFileIsAnError) {
  auto g = GgufFile::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace moe
