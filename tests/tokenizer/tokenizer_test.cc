// Special and added tokens, BOS/EOS and end-of-generation rules, decoding and streaming, and
// the pre-tokenizers of the conformance models (llama-bpe, qwen2, deepseek-v3).
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace moe {
namespace {

using testing_util::BuildVocab;
using testing_util::LoadVocab;
using testing_util::TinyBpe;

const char* const kMixed =
    "Hello, world! Ça va? Привет мир 你好世界 こんにちは 🦙🚀 x=3.14159; tab\there\n\n  "
    "end "
    " ";

bool Contains(const std::vector<int32_t>& v, int32_t id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

TEST(Tokenizer, ControlTokensOnlyWithParseSpecial) {
  auto tok = LoadVocab("models/qwen3moe-f32.vocab.gguf");  // qwen2 pre-tokenizer
  ASSERT_TRUE(tok);
  const std::string text = "<|im_start|>user\nhi<|im_end|>";
  const auto parsed = tok->Encode(text, false, true);
  ASSERT_GE(parsed.size(), 3u);
  EXPECT_EQ(parsed.front(), 348);  // <|im_start|>
  EXPECT_EQ(parsed.back(), 347);   // <|im_end|>
  const auto plain = tok->Encode(text, false, false);
  EXPECT_FALSE(Contains(plain, 348));
  EXPECT_FALSE(Contains(plain, 347));
  EXPECT_EQ(tok->Decode(plain), text);
  EXPECT_EQ(tok->Decode(parsed), text);
  EXPECT_EQ(tok->Decode(parsed, /*skip_special=*/true), "user\nhi");
}

TEST(Tokenizer, UserDefinedTokensAlwaysMatched) {
  auto tok = LoadVocab("ggml-vocab-deepseek-coder.gguf");
  ASSERT_TRUE(tok);
  // <|User|> (32019) and <|EOT|> (32021) are user-defined (added, not special) tokens.
  EXPECT_EQ(tok->Encode("<|User|>", false, false), std::vector<int32_t>({32019}));
  const auto ids = tok->Encode("a<|EOT|>b", false, false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 32021);
  // Control tokens stay text without parse_special.
  EXPECT_FALSE(Contains(tok->Encode("<｜begin▁of▁sentence｜>", false, false), 32013));
  EXPECT_EQ(tok->Encode("<｜begin▁of▁sentence｜>", false, true), std::vector<int32_t>({32013}));
}

TEST(Tokenizer, LongestSpecialTokenWins) {
  TinyBpe v;
  const int32_t a = v.Add("<a>", 3);
  const int32_t ab = v.Add("<a><b>", 3);
  auto tok = BuildVocab("longest", [&](GgufWriter& w) { v.Write(w); });
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->Encode("<a><b>", false, true), std::vector<int32_t>({ab}));
  EXPECT_EQ((*tok)->Encode("<a><a><b>", false, true), std::vector<int32_t>({a, ab}));
}

TEST(Tokenizer, BosEosFollowMetadata) {
  auto spm = LoadVocab("ggml-vocab-llama-spm.gguf");  // add_bos_token = true
  ASSERT_TRUE(spm);
  auto ids = spm->Encode("Hello world", true, false);
  EXPECT_EQ(ids, std::vector<int32_t>({1, 15043, 3186}));
  EXPECT_EQ(spm->Decode(ids, true), "Hello world");
  EXPECT_EQ(spm->Encode("", true, false), std::vector<int32_t>({1}));
  EXPECT_TRUE(spm->Encode("", false, false).empty());

  auto gpt2 = LoadVocab("ggml-vocab-gpt-2.gguf");  // no add_bos_token key: gpt-2 adds none
  ASSERT_TRUE(gpt2);
  EXPECT_FALSE(gpt2->add_bos());
  EXPECT_EQ(gpt2->Encode("Hello", true, false), gpt2->Encode("Hello", false, false));

  auto ds = LoadVocab("ggml-vocab-deepseek-llm.gguf");
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->Encode("Hello", true, false).front(), 100000);

  TinyBpe v;
  const int32_t bos = v.Add("<s>", 3);
  const int32_t eos = v.Add("</s>", 3);
  auto both = BuildVocab("bos_eos", [&](GgufWriter& w) {
    v.Write(w);
    w.SetU32("tokenizer.ggml.bos_token_id", bos);
    w.SetU32("tokenizer.ggml.eos_token_id", eos);
    w.SetBool("tokenizer.ggml.add_bos_token", true);
    w.SetBool("tokenizer.ggml.add_eos_token", true);
  });
  ASSERT_TRUE(both.ok()) << both.status().message();
  const auto e = (*both)->Encode("hello", true, false);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e.front(), bos);
  EXPECT_EQ(e.back(), eos);
  EXPECT_EQ((*both)->Decode(e, true), "hello");
  EXPECT_EQ((*both)->Decode(e, false), "<s>hello</s>");
}

TEST(Tokenizer, EndOfGeneration) {
  auto qwen = LoadVocab("models/qwen3moe-f32.vocab.gguf");
  ASSERT_TRUE(qwen);
  EXPECT_TRUE(qwen->IsEog(347));   // <|im_end|>, the eos
  EXPECT_TRUE(qwen->IsEog(346));   // <|endoftext|>
  EXPECT_FALSE(qwen->IsEog(348));  // <|im_start|>
  EXPECT_FALSE(qwen->IsEog(10));
  EXPECT_FALSE(qwen->IsEog(-1));
  EXPECT_FALSE(qwen->IsEog(100000));

  auto llama = LoadVocab("models/llama-f32.vocab.gguf");
  ASSERT_TRUE(llama);
  EXPECT_TRUE(llama->IsEog(347));  // <|end_of_text|>
  EXPECT_TRUE(llama->IsEog(348));  // <|eot_id|>
  EXPECT_EQ(llama->eot_id(), 348);

  auto ds = LoadVocab("models/deepseek2-f32.vocab.gguf");
  ASSERT_TRUE(ds);
  EXPECT_TRUE(ds->IsEog(347));  // <｜end▁of▁sentence｜>
  EXPECT_FALSE(ds->IsEog(346));
}

TEST(Tokenizer, Phi3ChatTokensEatFollowingWhitespace) {
  auto phi = LoadVocab("ggml-vocab-phi-3.gguf");
  ASSERT_TRUE(phi);
  // <|user|> (32010) is rstrip in Phi-3; the text after it gets the SentencePiece prefix space.
  EXPECT_EQ(phi->Encode("<|user|>\nHello", false, true), std::vector<int32_t>({32010, 15043}));
  EXPECT_TRUE(phi->IsEog(32007));  // <|end|>
  EXPECT_TRUE(phi->IsEog(32000));  // <|endoftext|>, the eos
}

TEST(Tokenizer, ConformanceModelVocabulariesRoundTrip) {
  struct Case {
    const char* file;
    const char* pre;
    int32_t bos;
    bool add_bos;
  };
  for (const Case& c : {Case{"models/llama-f32.vocab.gguf", "llama-bpe", 346, true},
                        Case{"models/qwen3moe-f32.vocab.gguf", "qwen2", 346, false},
                        Case{"models/deepseek2-f32.vocab.gguf", "deepseek-v3", 346, true}}) {
    SCOPED_TRACE(c.file);
    auto tok = LoadVocab(c.file);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->pre_tokenizer(), c.pre);
    EXPECT_TRUE(tok->warnings().empty());
    EXPECT_EQ(tok->vocab_size(), 384u);
    EXPECT_EQ(tok->bos_id(), c.bos);
    const auto ids = tok->Encode(kMixed, true, false);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front() == c.bos, c.add_bos);
    for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < 384) << id;
    EXPECT_EQ(tok->Decode(ids, /*skip_special=*/true), kMixed);
    // " the" is merged in all three ("Ġ t", "h e", "Ġt he").
    const auto the = tok->Encode(" the", false, false);
    EXPECT_EQ(the.size(), 1u);
    EXPECT_EQ(tok->TokenPiece(the[0]), "\xC4\xA0the");
  }
}

TEST(Tokenizer, PreTokenizerPiecesMatchReferenceRegexes) {
  auto split = [](const char* pre, std::string_view text) {
    auto s = RegexSplitter::Compile(PreTokenizerForName(pre).patterns);
    EXPECT_TRUE(s.ok()) << s.status().message();
    std::vector<TextSpan> spans;
    s->Split(text, &spans);
    std::vector<std::string> out;
    for (auto sp : spans) out.emplace_back(text.substr(sp.begin, sp.end - sp.begin));
    return out;
  };
  using V = std::vector<std::string>;
  // Llama 3: digits in groups of up to three, contractions case-insensitive.
  EXPECT_EQ(split("llama-bpe", "I'VE 12345 apples\n\n"),
            V({"I", "'VE", " ", "123", "45", " apples", "\n\n"}));
  // Qwen2: single digits.
  EXPECT_EQ(split("qwen2", "x 123"), V({"x", " ", "1", "2", "3"}));
  // DeepSeek-V3: digits split first, CJK runs isolated, punctuation glued to a following word.
  EXPECT_EQ(split("deepseek-v3", "a1234b 你好.x"), V({"a", "123", "4", "b", " ", "你好", ".x"}));
  // GPT-2: a space stays with the following word; trailing spaces form their own piece.
  EXPECT_EQ(split("gpt-2", "Hello  world  "), V({"Hello", " ", " world", "  "}));
  // \s is Unicode White_Space, U+0085 included (as in Oniguruma and llama.cpp).
  EXPECT_EQ(split("gpt-2",
                  "a \xC2\x85"
                  "b"),
            V({"a", " ", "\xC2\x85", "b"}));
  // Unknown names fall back to the default patterns and say so.
  EXPECT_FALSE(PreTokenizerForName("no-such-pre").known);
}

TEST(Tokenizer, EncodeIsThreadSafe) {
  auto tok = LoadVocab("ggml-vocab-deepseek-llm.gguf");
  ASSERT_TRUE(tok);
  const auto expected = tok->Encode(kMixed, true, true);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (tok->Encode(kMixed, true, true) != expected) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Tokenizer, DecodeSkipsInvalidIds) {
  auto tok = LoadVocab("ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(tok);
  const std::vector<int32_t> ids = {-5, 15496, 1 << 30, 50256};
  EXPECT_EQ(tok->Decode(ids, true), "Hello");
  EXPECT_EQ(tok->Decode(ids, false), "Hello<|endoftext|>");
  EXPECT_EQ(tok->TokenPiece(-1), "");
  EXPECT_EQ(tok->TokenPiece(1 << 30), "");
  EXPECT_EQ(tok->TokenPiece(15496), "Hello");
  EXPECT_EQ(tok->FindToken("Hello"), 15496);
}

TEST(StreamDecoder, ChunksAreCompleteUtf8AndConcatenateToDecode) {
  for (const char* file :
       {"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-deepseek-llm.gguf",
        "ggml-vocab-phi-3.gguf", "models/llama-f32.vocab.gguf"}) {
    SCOPED_TRACE(file);
    auto tok = LoadVocab(file);
    ASSERT_TRUE(tok);
    const auto ids = tok->Encode(kMixed, true, false);
    StreamDecoder d(*tok, /*skip_special=*/true);
    std::string all;
    int empty_chunks = 0;
    for (int32_t id : ids) {
      const std::string chunk = d.Push(id);
      EXPECT_TRUE(unicode::IsValidUtf8(chunk));
      if (chunk.empty()) ++empty_chunks;
      all += chunk;
    }
    all += d.Flush();
    EXPECT_EQ(all, kMixed);
    EXPECT_EQ(all, tok->Decode(ids, true));
  }
}

TEST(StreamDecoder, HoldsBackPartialCharacters) {
  auto tok = LoadVocab("ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(tok);
  // In GPT-2, each byte of U+1F999 (F0 9F A6 99) has its own byte token.
  std::vector<int32_t> bytes;
  for (char c : std::string("\xF0\x9F\xA6\x99")) {
    bytes.push_back(tok->FindToken(unicode::ByteToUtf8()[static_cast<uint8_t>(c)]));
  }
  StreamDecoder d(*tok);
  EXPECT_EQ(d.Push(bytes[0]), "");
  EXPECT_EQ(d.Push(bytes[1]), "");
  EXPECT_EQ(d.Push(bytes[2]), "");
  EXPECT_EQ(d.Push(bytes[3]), "\xF0\x9F\xA6\x99");
  // An unfinished character at the end becomes U+FFFD on Flush.
  EXPECT_EQ(d.Push(bytes[0]), "");
  EXPECT_EQ(d.Flush(), "\xEF\xBF\xBD");
  // A byte that can never start a character is replaced at once.
  EXPECT_EQ(d.Push(bytes[3]), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace moe
