// Malformed `tokenizer.ggml.*` metadata: every problem is an error naming the key and what
// was wrong, never a crash.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace moe {
namespace {

using testing_util::BuildVocab;
using testing_util::TinyBpe;

// Loads a vocabulary that must fail; returns the error message.
std::string ErrorOf(const std::string& name, const std::function<void(GgufWriter&)>& fill) {
  auto t = BuildVocab(name, fill);
  EXPECT_FALSE(t.ok()) << name << " loaded but should not have";
  return t.ok() ? std::string() : t.status().message();
}

#define EXPECT_MENTIONS(msg, ...)                                                           \
  for (const char* part : {__VA_ARGS__}) {                                                  \
    EXPECT_NE((msg).find(part), std::string::npos) << "'" << part << "' not in: " << (msg); \
  }

TEST(TokenizerMetadata, TinyVocabularyLoads) {
  TinyBpe v;
  auto t = BuildVocab("ok", [&](GgufWriter& w) { v.Write(w); });
  ASSERT_TRUE(t.ok()) << t.status().message();
  const auto ids = (*t)->Encode("hello world", false, false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ((*t)->TokenPiece(ids[0]), "hello");
  EXPECT_EQ((*t)->TokenPiece(ids[1]), "\xC4\xA0world");
}

TEST(TokenizerMetadata, MissingModel) {
  TinyBpe v;
  const std::string m = ErrorOf(
      "no_model", [&](GgufWriter& w) { w.SetStringArray("tokenizer.ggml.tokens", v.tokens); });
  EXPECT_MENTIONS(m, "tokenizer.ggml.model", "missing");
}

TEST(TokenizerMetadata, UnsupportedModel) {
  TinyBpe v;
  const std::string m = ErrorOf("bert", [&](GgufWriter& w) {
    v.Write(w);
    w.SetString("tokenizer.ggml.model", "bert");
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.model", "bert", "gpt2");
}

TEST(TokenizerMetadata, MissingTokens) {
  const std::string m = ErrorOf("no_tokens", [&](GgufWriter& w) {
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetStringArray("tokenizer.ggml.merges", {"a b"});
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.tokens", "missing");
}

TEST(TokenizerMetadata, EmptyTokens) {
  const std::string m = ErrorOf("empty_tokens", [&](GgufWriter& w) {
    w.SetString("tokenizer.ggml.model", "llama");
    w.SetStringArray("tokenizer.ggml.tokens", {});
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.tokens", "empty");
}

TEST(TokenizerMetadata, TokensOfWrongType) {
  const std::string m = ErrorOf("int_tokens", [&](GgufWriter& w) {
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetI32Array("tokenizer.ggml.tokens", {1, 2, 3});
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.tokens", "i32", "string");
  const std::string m2 = ErrorOf("scalar_tokens", [&](GgufWriter& w) {
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetString("tokenizer.ggml.tokens", "abc");
  });
  EXPECT_MENTIONS(m2, "tokenizer.ggml.tokens", "array");
}

TEST(TokenizerMetadata, MergeWithUnknownPiece) {
  TinyBpe v;
  v.merges.push_back("q zz");
  const std::string m = ErrorOf("bad_merge", [&](GgufWriter& w) { v.Write(w); });
  EXPECT_MENTIONS(m, "tokenizer.ggml.merges[9]", "'zz'", "not a token");
}

TEST(TokenizerMetadata, MergeResultNotInVocabulary) {
  TinyBpe v;
  v.merges.push_back("x y");  // both bytes exist, "xy" does not
  const std::string m = ErrorOf("bad_result", [&](GgufWriter& w) { v.Write(w); });
  EXPECT_MENTIONS(m, "tokenizer.ggml.merges[9]", "'xy'");
}

TEST(TokenizerMetadata, MergeWithoutSeparator) {
  TinyBpe v;
  v.merges.push_back("xy");
  const std::string m = ErrorOf("no_space", [&](GgufWriter& w) { v.Write(w); });
  EXPECT_MENTIONS(m, "tokenizer.ggml.merges[9]", "space");
}

TEST(TokenizerMetadata, MissingMerges) {
  TinyBpe v;
  const std::string m = ErrorOf("no_merges", [&](GgufWriter& w) {
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetStringArray("tokenizer.ggml.tokens", v.tokens);
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.merges", "missing");
}

TEST(TokenizerMetadata, TokenIdOutOfRange) {
  TinyBpe v;
  const std::string m = ErrorOf("bos_range", [&](GgufWriter& w) {
    v.Write(w);
    w.SetU32("tokenizer.ggml.bos_token_id", 100000);
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.bos_token_id", "100000", "265");
  const std::string m2 = ErrorOf("eos_negative", [&](GgufWriter& w) {
    v.Write(w);
    w.SetI32("tokenizer.ggml.eos_token_id", -3);
  });
  EXPECT_MENTIONS(m2, "tokenizer.ggml.eos_token_id", "-3");
}

TEST(TokenizerMetadata, TokenIdOfWrongType) {
  TinyBpe v;
  const std::string m = ErrorOf("bos_string", [&](GgufWriter& w) {
    v.Write(w);
    w.SetString("tokenizer.ggml.bos_token_id", "1");
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.bos_token_id", "string", "integer");
}

TEST(TokenizerMetadata, FlagsOfWrongType) {
  TinyBpe v;
  const std::string m = ErrorOf("add_bos_string", [&](GgufWriter& w) {
    v.Write(w);
    w.SetString("tokenizer.ggml.add_bos_token", "yes");
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.add_bos_token", "bool");
  const std::string m2 = ErrorOf("pre_int", [&](GgufWriter& w) {
    v.Write(w);
    w.SetU32("tokenizer.ggml.pre", 3);
  });
  EXPECT_MENTIONS(m2, "tokenizer.ggml.pre", "string");
}

TEST(TokenizerMetadata, AddBosWithoutBos) {
  TinyBpe v;
  const std::string m = ErrorOf("add_bos_no_bos", [&](GgufWriter& w) {
    v.Write(w);
    w.SetBool("tokenizer.ggml.add_bos_token", true);
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.add_bos_token", "bos_token_id");
}

TEST(TokenizerMetadata, ArrayLengthMismatch) {
  TinyBpe v;
  const std::string m = ErrorOf("scores_len", [&](GgufWriter& w) {
    v.Write(w);
    w.SetF32Array("tokenizer.ggml.scores", {0.0f, 1.0f});
  });
  EXPECT_MENTIONS(m, "tokenizer.ggml.scores", "2", "265");
  const std::string m2 = ErrorOf("types_len", [&](GgufWriter& w) {
    v.Write(w);
    w.SetI32Array("tokenizer.ggml.token_type", {1});
  });
  EXPECT_MENTIONS(m2, "tokenizer.ggml.token_type", "1", "265");
  const std::string m3 = ErrorOf("types_str", [&](GgufWriter& w) {
    v.Write(w);
    w.SetStringArray("tokenizer.ggml.token_type", v.tokens);
  });
  EXPECT_MENTIONS(m3, "tokenizer.ggml.token_type", "string");
}

TEST(TokenizerMetadata, OddButLegalValuesLoad) {
  TinyBpe v;
  v.types[5] = 42;  // unknown token type: undefined, as in llama.cpp
  v.Add("", 1);     // empty piece: renamed "[EMPTY_265]" as llama.cpp does
  auto t = BuildVocab("odd", [&](GgufWriter& w) {
    v.Write(w, "some-future-pre");
    w.SetU32("tokenizer.ggml.padding_token_id", 1 << 20);  // ignored with a warning
  });
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->warnings().size(), 2u);
  EXPECT_EQ((*t)->pad_id(), -1);
  EXPECT_EQ((*t)->Decode((*t)->Encode("hello", false, false)), "hello");
}

}  // namespace
}  // namespace moe
