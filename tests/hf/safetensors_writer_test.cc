// SafetensorsWriter: what it writes parses with our reader into exactly the declared tensors
// (dtype, shape, bytes) with the layout the format prescribes (length prefix, space-padded
// JSON, data at a multiple of 8, tensors back to back), whatever the size of the pieces the
// data arrives in; misuse that would produce an unreadable file is refused with a message.
#include "io/safetensors_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/safetensors.h"

namespace moe {
namespace {

namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / ("moe_st_writer_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SafetensorsWriter, WritesWhatTheReaderReads) {
  struct T {
    std::string name, dtype;
    std::vector<uint64_t> shape;
    uint64_t bytes;
  };
  // Declared widest first, so every tensor starts at a multiple of its element size.
  const std::vector<T> tensors = {{"a.weight", "F32", {3, 5}, 60},
                                  {"a.weight_scale_inv", "F32", {1, 1}, 4},
                                  {"s", "I64", {}, 8},  // a scalar
                                  {"b", "BF16", {7}, 14},
                                  {"empty", "F16", {0, 4}, 0},
                                  {"c", "F8_E4M3", {3, 3}, 9},
                                  {"d", "U8", {5}, 5}};
  SafetensorsWriter w;
  uint64_t total = 0;
  for (const T& t : tensors) {
    ASSERT_TRUE(w.AddTensor(t.name, t.dtype, t.shape).ok());
    EXPECT_EQ(w.TensorBytes(w.num_tensors() - 1), t.bytes) << t.name;
    total += t.bytes;
  }
  w.SetMetadata("source", "test");
  ASSERT_EQ(w.data_bytes(), total);
  std::string data(total, '\0');
  for (uint64_t i = 0; i < total; ++i) data[i] = static_cast<char>(i * 7 + 1);
  const std::string path = TempPath("ok.safetensors");
  ASSERT_TRUE(w.Begin(path).ok());
  // Pieces of 1, 2, 3, ... bytes, crossing tensor boundaries.
  for (uint64_t at = 0, n = 1; at < total; at += n, ++n)
    ASSERT_TRUE(w.Write(data.data() + at, std::min(n, total - at)).ok());
  ASSERT_TRUE(w.Finish().ok());

  const std::string file = ReadAll(path);
  uint64_t header_len;
  std::memcpy(&header_len, file.data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);
  EXPECT_EQ(file.size(), 8 + header_len + total);
  const std::string header = file.substr(8, header_len);
  const size_t json_end = header.rfind('}');
  EXPECT_EQ(header.find_first_not_of(' ', json_end + 1), std::string::npos) << "padding is spaces only";
  EXPECT_LT(header.size() - json_end - 1, 8u);
  auto j = nlohmann::json::parse(header);
  EXPECT_EQ(j["__metadata__"], (nlohmann::json{{"format", "pt"}, {"source", "test"}}));

  auto st = OpenSafetensors(path);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->metadata.at("format"), "pt");
  EXPECT_EQ(st->data_offset, 8 + header_len);
  ASSERT_EQ(st->tensors.entries().size(), tensors.size());
  uint64_t offset = 0;
  for (const T& t : tensors) {
    const TensorEntry* e = st->tensors.Find(t.name);
    ASSERT_NE(e, nullptr) << t.name;
    EXPECT_EQ(e->type_name, t.dtype);
    EXPECT_EQ(e->shape, t.shape);
    EXPECT_EQ(e->nbytes, t.bytes);
    EXPECT_EQ(e->file_offset, st->data_offset + offset) << t.name;  // in declaration order, no holes
    EXPECT_EQ(std::memcmp(e->data, data.data() + offset, t.bytes), 0) << t.name;
    offset += t.bytes;
  }
  fs::remove(path);
}

// A null piece is a hole that reads back as zeros, also at the end of the file.
TEST(SafetensorsWriter, HolesReadAsZeros) {
  SafetensorsWriter w;
  ASSERT_TRUE(w.AddTensor("x", "F32", {4}).ok());
  ASSERT_TRUE(w.AddTensor("y", "F32", {1000}).ok());
  const std::string path = TempPath("holes.safetensors");
  ASSERT_TRUE(w.Begin(path).ok());
  const float x[4] = {1, 2, 3, 4};
  ASSERT_TRUE(w.Write(x, sizeof(x)).ok());
  ASSERT_TRUE(w.Write(nullptr, 4000).ok());
  ASSERT_TRUE(w.Finish().ok());
  auto st = OpenSafetensors(path);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(std::memcmp(st->tensors.Find("x")->data, x, sizeof(x)), 0);
  const TensorEntry* y = st->tensors.Find("y");
  EXPECT_EQ(std::count(y->data, y->data + y->nbytes, 0), 4000);
  fs::remove(path);
}

TEST(SafetensorsWriter, RefusesUnreadableFiles) {
  SafetensorsWriter w;
  EXPECT_NE(w.AddTensor("x", "F42", {2}).message().find("unknown dtype 'F42'"), std::string::npos);
  EXPECT_NE(w.AddTensor("__metadata__", "F32", {2}).message().find("cannot name a tensor"), std::string::npos);
  ASSERT_TRUE(w.AddTensor("x", "F32", {2}).ok());
  EXPECT_NE(w.AddTensor("x", "F32", {2}).message().find("declared twice"), std::string::npos);
  EXPECT_NE(w.AddTensor("big", "F32", {1ull << 30, 1ull << 30}).message().find("overflows"), std::string::npos);
  // An F32 tensor after 3 bytes of FP8 would sit at offset 11: readers could not map it as floats.
  SafetensorsWriter m;
  ASSERT_TRUE(m.AddTensor("w", "F8_E4M3", {3}).ok());
  ASSERT_TRUE(m.AddTensor("w_scale_inv", "F32", {1}).ok());
  auto h = m.Header();
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("'w_scale_inv' (F32) would start at data offset 3"), std::string::npos)
      << h.status().message();
  EXPECT_FALSE(m.Begin(TempPath("never.safetensors")).ok());
  EXPECT_FALSE(fs::exists(TempPath("never.safetensors")));
  SafetensorsWriter n;
  EXPECT_NE(n.Begin("/nonexistent-dir/x.safetensors").message().find("cannot create"), std::string::npos);
}

}  // namespace
}  // namespace moe
