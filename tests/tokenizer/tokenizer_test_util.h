// Helpers for the tokenizer tests: loading the kit vocabularies and writing small synthetic
// vocab-only GGUF files.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace moe::testing_util {

inline const std::string& TokDir() {
  static const std::string d = std::string(MOE_TEST_DATA) + "/tokenizer";
  return d;
}

// Loads tests/data/tokenizer/<rel>; fails the test (returns null) when it does not load.
inline std::unique_ptr<Tokenizer> LoadVocab(const std::string& rel) {
  auto g = GgufFile::Open(TokDir() + "/" + rel);
  EXPECT_TRUE(g.ok()) << g.status().message();
  if (!g.ok()) return nullptr;
  auto t = Tokenizer::FromGguf(*g);
  EXPECT_TRUE(t.ok()) << t.status().message();
  if (!t.ok()) return nullptr;
  return std::move(t).value();
}

// Writes a vocab-only GGUF built by `fill` into the test temp dir and loads it.
inline Result<std::unique_ptr<Tokenizer>> BuildVocab(const std::string& name,
                                                     const std::function<void(GgufWriter&)>& fill) {
  const std::string path = ::testing::TempDir() + "/" + name + ".gguf";
  GgufWriter w;
  fill(w);
  MOE_RETURN_IF_ERROR(w.Begin(path));
  MOE_RETURN_IF_ERROR(w.Finish());
  MOE_ASSIGN_OR_RETURN(auto g, GgufFile::Open(path));
  return Tokenizer::FromGguf(g);
}

// A complete tiny byte-level BPE vocabulary: the 256 byte pieces, then merged pieces, then
// `extra` pieces with their types.
struct TinyBpe {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;

  TinyBpe() {
    for (const auto& s : unicode::ByteToUtf8()) {
      tokens.push_back(s);
      types.push_back(1);
    }
    for (const char* m : {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "o r", "\xC4\xA0w or",
                          "l d", "\xC4\xA0wor ld"}) {
      Merge(m);
    }
  }
  void Merge(const std::string& m) {
    merges.push_back(m);
    const size_t sp = m.find(' ', 1);
    tokens.push_back(m.substr(0, sp) + m.substr(sp + 1));
    types.push_back(1);
  }
  int32_t Add(const std::string& piece, int32_t type) {
    tokens.push_back(piece);
    types.push_back(type);
    return static_cast<int32_t>(tokens.size() - 1);
  }
  void Write(GgufWriter& w, const std::string& pre = "gpt-2") const {
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetString("tokenizer.ggml.pre", pre);
    w.SetStringArray("tokenizer.ggml.tokens", tokens);
    w.SetI32Array("tokenizer.ggml.token_type", types);
    w.SetStringArray("tokenizer.ggml.merges", merges);
  }
};

}  // namespace moe::testing_util
