// Every reference vector of the tokenizer kit (tests/data/tokenizer, see its README.md):
// each ggml-vocab-*.gguf must encode every input of its .inp file to exactly the ids of the
// matching .out line, and decode them back to the input.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace moe {
namespace {

const std::string kDir = std::string(MOE_TEST_DATA) + "/tokenizer";

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Inputs: the file is <input> "\n__ggml_vocab_test__\n" repeated; the tail after the last
// separator is empty and not a test.
std::vector<std::string> ReadInputs(const std::string& path) {
  const std::string data = ReadFile(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t hit = data.find(sep, pos);
    if (hit == std::string::npos) break;
    out.push_back(data.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  return out;
}

std::vector<std::vector<int32_t>> ReadOutputs(const std::string& path) {
  std::istringstream in(ReadFile(path));
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    long long id = 0;
    while (ls >> id) ids.push_back(static_cast<int32_t>(id));
    out.push_back(std::move(ids));
  }
  return out;
}

std::string Join(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += ' ';
    s += std::to_string(id);
  }
  return s;
}

std::vector<std::string> VocabFiles() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kDir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("ggml-vocab-", 0) == 0 && name.size() > 5 &&
        name.compare(name.size() - 5, 5, ".gguf") == 0) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

class KitVocab : public testing::TestWithParam<std::string> {};

TEST_P(KitVocab, EncodesEveryVectorExactly) {
  const std::string path = kDir + "/" + GetParam();
  auto gguf = GgufFile::Open(path);
  ASSERT_TRUE(gguf.ok()) << gguf.status().message();
  auto tok = Tokenizer::FromGguf(*gguf);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const auto inputs = ReadInputs(path + ".inp");
  const auto expected = ReadOutputs(path + ".out");
  ASSERT_FALSE(inputs.empty());
  ASSERT_EQ(inputs.size(), expected.size()) << path;
  int passed = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto ids = (*tok)->Encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(Join(ids), Join(expected[i]))
        << GetParam() << " input " << i << ": '" << inputs[i] << "'";
    if (ids == expected[i]) ++passed;
    // Byte-level BPE and SentencePiece with byte fallback are both lossless.
    EXPECT_EQ((*tok)->Decode(expected[i]), inputs[i]) << GetParam() << " input " << i;
  }
  std::printf("%s: %d/%zu vectors\n", GetParam().c_str(), passed, inputs.size());
}

INSTANTIATE_TEST_SUITE_P(Kit, KitVocab, testing::ValuesIn(VocabFiles()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param.substr(11, info.param.size() - 16);
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

TEST(KitVocab, AllSixVocabulariesPresent) { EXPECT_EQ(VocabFiles().size(), 6u) << kDir; }

}  // namespace
}  // namespace moe
