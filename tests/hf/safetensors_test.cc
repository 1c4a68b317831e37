// Safetensors reader: a well-formed file built in the test, the conformance files, and a
// hostile suite (truncated header, offsets out of the file, overlaps, shape/dtype/size
// mismatches, non-JSON and huge or deeply nested headers): each a clear error naming the
// file and tensor, never a crash or a huge allocation.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace moe {
namespace {

// Header length + header text + `data_bytes` bytes of data (value i & 0xff at byte i).
std::vector<uint8_t> Build(const std::string& header, uint64_t data_bytes, uint64_t claimed_len = UINT64_MAX) {
  uint64_t n = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  std::string s(8, '\0');
  std::memcpy(s.data(), &n, 8);
  s += header;
  for (uint64_t i = 0; i < data_bytes; ++i) s.push_back(static_cast<char>(i & 0xff));
  return std::vector<uint8_t>(s.begin(), s.end());
}

Result<SafetensorsFile> Parse(std::vector<uint8_t> b) {
  return ParseSafetensors(MappedFile::FromBytes(std::move(b), "t.safetensors"), "t.safetensors");
}

std::string ErrorOf(std::vector<uint8_t> b) {
  auto r = Parse(std::move(b));
  return r.ok() ? "" : r.status().message();
}

TEST(Safetensors, ParsesTensorsAndMetadata) {
  auto r = Parse(Build(R"({"__metadata__":{"format":"pt","n":3},)"
                       R"("b":{"dtype":"BF16","shape":[2,3],"data_offsets":[8,20]},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("s":{"dtype":"F16","shape":[],"data_offsets":[20,22]},)"
                       R"("f8":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[22,26]},)"
                       R"("empty":{"dtype":"F32","shape":[0,5],"data_offsets":[26,26]}}   )",
                       26));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->metadata.size(), 1u);  // non-string values are dropped
  EXPECT_EQ(r->metadata.at("format"), "pt");
  const TensorCatalog& c = r->tensors;
  ASSERT_EQ(c.entries().size(), 5u);
  EXPECT_EQ(c.entries()[0].name, "a");  // ordered by offset
  const TensorEntry* b = c.Find("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->dtype, DType::kBF16);
  EXPECT_EQ(b->ggml_type, 30u);
  EXPECT_EQ(b->shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(b->nbytes, 12u);
  EXPECT_EQ(b->file_offset, r->data_offset + 8);
  EXPECT_EQ(b->data[0], 8);
  EXPECT_EQ(c.Find("a")->dtype, DType::kF32);
  EXPECT_EQ(c.Find("s")->dtype, DType::kF16);
  EXPECT_TRUE(c.Find("s")->shape.empty());
  const TensorEntry* f8 = c.Find("f8");
  EXPECT_EQ(f8->dtype, DType::kF8E4M3);
  EXPECT_EQ(f8->ggml_type, 0xffffffffu);  // no ggml type: it can never be written into a GGUF
  EXPECT_EQ(f8->type_name, "F8_E4M3");
  EXPECT_EQ(c.Find("empty")->nbytes, 0u);
}

// Read into memory (--mmap 0), the data section starts on a cache line whatever the header's
// length (the BF16 weight tiles are 64-byte vectors).
TEST(Safetensors, ReadIntoMemoryPutsTheDataOnACacheLine) {
  for (size_t pad : {0, 8, 16, 40}) {
    const std::string header = R"({"w":{"dtype":"BF16","shape":[32],"data_offsets":[0,64]}})" + std::string(pad, ' ');
    const std::vector<uint8_t> bytes = Build(header, 64);
    const std::string path = ::testing::TempDir() + "/aligned" + std::to_string(pad) + ".safetensors";
    ASSERT_TRUE(std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                             static_cast<std::streamsize>(bytes.size())));
    auto r = OpenSafetensors(path, {.mmap = false});
    ASSERT_TRUE(r.ok()) << r.status().message();
    const TensorEntry* w = r->tensors.Find("w");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w->data) % 64, 0u) << "data offset " << r->data_offset;
    EXPECT_EQ(w->data[5], 5);
    std::remove(path.c_str());
  }
}

TEST(Safetensors, OpensConformanceFiles) {
  for (const char* c : {"llama-f32", "qwen3moe-bf16", "deepseek2-fp8"}) {
    auto r = OpenSafetensors(std::string(MOE_TEST_DATA) + "/conformance/" + c + "/hf/model.safetensors");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(r->tensors.Contains("model.embed_tokens.weight")) << c;
    EXPECT_EQ(r->metadata.at("format"), "pt");
  }
}

TEST(Safetensors, HostileFiles) {
  const std::string ok_a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    std::vector<std::string> expect;  // substrings of the message
  };
  const std::string huge_hdr = "{}";
  std::vector<Case> cases = {
      {"too short", {1, 2, 3}, {"t.safetensors", "too short"}},
      {"header past end", Build("{" + ok_a + "}", 8, 1000), {"header length 1000", "past the end"}},
      {"huge header", Build("{}", 0, 1ull << 40), {"over the limit"}},
      {"not json", Build("{not json", 0), {"not valid JSON"}},
      {"not an object", Build("[1,2]", 0), {"not a JSON object"}},
      {"deep nesting", Build("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}", 0), {"nests deeper"}},
      {"offset out of file", Build(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
       {"'a'", "outside the data section"}},
      {"begin > end", Build(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8), {"'a'", "[8, 4]"}},
      {"size mismatch", Build(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       {"'a'", "needs 12 bytes", "hold 8"}},
      {"dtype mismatch", Build(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", 8),
       {"'a'", "F16", "needs 4 bytes"}},
      {"overlap", Build("{" + ok_a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
       {"'a'", "'b'", "overlap"}},
      {"unknown dtype", Build(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8), {"'a'", "unknown dtype 'Q4'"}},
      {"negative dim", Build(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), {"'a'", "non-negative"}},
      {"float dim", Build(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8), {"'a'", "non-negative"}},
      {"too many dims", Build(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}})", 8),
       {"'a'", "9 dimensions"}},
      {"overflowing shape",
       Build(R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}})", 8),
       {"'a'", "overflows"}},
      {"dim over limit", Build(R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", 8),
       {"'a'", "overflows"}},
      {"missing offsets", Build(R"({"a":{"dtype":"F32","shape":[2]}})", 8), {"'a'", "data_offsets"}},
      {"three offsets", Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", 8), {"'a'", "data_offsets"}},
      {"entry not object", Build(R"({"a":[1,2]})", 8), {"'a'", "expected an object"}},
      {"duplicate name", Build("{" + ok_a + "," + ok_a + "}", 8), {"'a'", "listed twice"}},
      {"dtype not string", Build(R"({"a":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})", 8), {"'a'", "dtype"}},
  };
  for (auto& c : cases) {
    std::string msg = ErrorOf(std::move(c.bytes));
    ASSERT_FALSE(msg.empty()) << c.what << ": accepted";
    for (const auto& s : c.expect) EXPECT_NE(msg.find(s), std::string::npos) << c.what << ": " << msg;
    if (std::string(c.what) != "too short") {
      EXPECT_NE(msg.find("t.safetensors"), std::string::npos) << msg;
    }
  }
}

// Every truncation of a valid file either fails with a message or (header intact, data
// cut) is caught by the data-section bounds; none may crash.
TEST(Safetensors, EveryTruncationFailsCleanly) {
  auto full = Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]}})", 16);
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_FALSE(Parse(cut).ok()) << "truncated to " << n << " bytes";
  }
  EXPECT_TRUE(Parse(full).ok());
}

// Flipping any single byte of the header must never crash (it may still parse).
TEST(Safetensors, BitFlipsDoNotCrash) {
  auto full = Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]}})", 16);
  for (size_t i = 0; i < full.size() - 16; ++i) {
    for (uint8_t bit : {0x01, 0x20, 0x80}) {
      auto b = full;
      b[i] ^= bit;
      auto r = Parse(std::move(b));
      if (r.ok()) {
        for (const auto& e : r->tensors.entries()) EXPECT_LE(e.file_offset + e.nbytes, full.size());
      }
    }
  }
}

}  // namespace
}  // namespace moe
