// Fuzz-style tests: random bytes (ill-formed UTF-8 included), random Unicode text and random
// ids never crash encode/decode, stay in range, and round-trip where the vocabulary is
// lossless. Deterministic seeds, so a failure reproduces.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace moe {
namespace {

using testing_util::LoadVocab;

const char* const kVocabs[] = {"ggml-vocab-gpt-2.gguf",          "ggml-vocab-deepseek-llm.gguf",
                               "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-starcoder.gguf",
                               "ggml-vocab-llama-spm.gguf",      "ggml-vocab-phi-3.gguf",
                               "models/llama-f32.vocab.gguf",    "models/qwen3moe-f32.vocab.gguf",
                               "models/deepseek2-f32.vocab.gguf"};

std::string RandomBytes(std::mt19937& rng, size_t max_len) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> pick(0, 9);
  std::string s(len(rng), '\0');
  // Bias towards bytes that exercise UTF-8 edge cases and the pre-tokenizer classes.
  const char edge[] = {'\x80', '\xBF', '\xC0', '\xC2', '\xE0', '\xED', '\xF0', '\xF4',
                       '\xFF', ' ',    '\n',   '\'',   '1',    'a',    '<',    '|'};
  for (char& c : s) {
    c = pick(rng) < 3 ? edge[rng() % sizeof(edge)] : static_cast<char>(byte(rng));
  }
  return s;
}

std::string RandomUnicode(std::mt19937& rng, size_t max_chars) {
  // Code points from scripts and classes the pre-tokenizers treat differently.
  const std::pair<uint32_t, uint32_t> ranges[] = {
      {0x20, 0x7E},     {0x09, 0x0D},       {0xA0, 0x24F},      {0x370, 0x3FF},
      {0x400, 0x4FF},   {0x600, 0x6FF},     {0x900, 0x97F},     {0x1780, 0x17FF},
      {0x2000, 0x206F}, {0x3000, 0x30FF},   {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3},
      {0xFF00, 0xFFEF}, {0x1F300, 0x1FAFF}, {0x10400, 0x1044F}, {0x85, 0x85}};
  std::uniform_int_distribution<size_t> len(0, max_chars);
  std::string s;
  const size_t n = len(rng);
  for (size_t i = 0; i < n; ++i) {
    const auto& r = ranges[rng() % std::size(ranges)];
    const uint32_t cp = r.first + static_cast<uint32_t>(rng() % (r.second - r.first + 1));
    unicode::AppendUtf8(cp, &s);
  }
  return s;
}

TEST(TokenizerFuzz, RandomBytesNeverCrashAndByteLevelRoundTrips) {
  for (const char* file : kVocabs) {
    SCOPED_TRACE(file);
    auto tok = LoadVocab(file);
    ASSERT_TRUE(tok);
    // DeepSeek's vocabularies spell a few bytes (e.g. 0xF5 as "õ") with user-defined tokens,
    // which decode as their text, as in llama.cpp; inputs holding such bytes cannot round-trip.
    std::string lossy_bytes;
    for (int b = 0; b < 256 && !tok->is_spm(); ++b) {
      const int32_t id = tok->FindToken(unicode::ByteToUtf8()[b]);
      if (tok->token_type(id) != TokenType::kNormal) lossy_bytes += static_cast<char>(b);
    }
    std::mt19937 rng(1234);
    for (int iter = 0; iter < 400; ++iter) {
      std::string text = RandomBytes(rng, 96);
      for (char& c : text) {
        if (lossy_bytes.find(c) != std::string::npos) c = 'x';
      }
      for (bool parse_special : {false, true}) {
        const auto ids = tok->Encode(text, true, parse_special);
        for (int32_t id : ids) {
          ASSERT_TRUE(id >= 0 && static_cast<size_t>(id) < tok->vocab_size()) << id;
        }
      }
      const auto ids = tok->Encode(text, false, false);
      // Byte-level BPE keeps every byte; SentencePiece with <0xXX> fallback does too.
      ASSERT_EQ(tok->Decode(ids), text) << "iteration " << iter;
      StreamDecoder d(*tok);
      std::string streamed;
      for (int32_t id : ids) {
        const std::string chunk = d.Push(id);
        ASSERT_TRUE(unicode::IsValidUtf8(chunk));
        streamed += chunk;
      }
      streamed += d.Flush();
      ASSERT_TRUE(unicode::IsValidUtf8(streamed));
      EXPECT_EQ(streamed, unicode::ToValidUtf8(text));
    }
  }
}

TEST(TokenizerFuzz, RandomUnicodeRoundTrips) {
  for (const char* file : kVocabs) {
    SCOPED_TRACE(file);
    auto tok = LoadVocab(file);
    ASSERT_TRUE(tok);
    std::mt19937 rng(99);
    for (int iter = 0; iter < 300; ++iter) {
      const std::string text = RandomUnicode(rng, 40);
      const auto ids = tok->Encode(text, true, false);
      ASSERT_EQ(tok->Decode(ids, /*skip_special=*/true), text) << "iteration " << iter;
    }
  }
}

TEST(TokenizerFuzz, RandomIdsDecodeSafely) {
  auto tok = LoadVocab("ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(tok);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(-100, 33000);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<int32_t> ids(rng() % 64);
    for (auto& x : ids) x = id(rng);
    (void)tok->Decode(ids, iter % 2 == 0);
    StreamDecoder d(*tok);
    for (int32_t x : ids) ASSERT_TRUE(unicode::IsValidUtf8(d.Push(x)));
    ASSERT_TRUE(unicode::IsValidUtf8(d.Flush()));
  }
}

TEST(TokenizerFuzz, PiecesTileTheInput) {
  for (const char* pre :
       {"gpt-2", "llama-bpe", "qwen2", "deepseek-v3", "deepseek-llm", "deepseek-coder", "starcoder",
        "default", "gpt-4o", "tekken", "bailingmoe", "falcon", "bloom"}) {
    SCOPED_TRACE(pre);
    auto s = RegexSplitter::Compile(PreTokenizerForName(pre).patterns);
    ASSERT_TRUE(s.ok()) << s.status().message();
    std::mt19937 rng(5);
    std::vector<TextSpan> spans;
    for (int iter = 0; iter < 300; ++iter) {
      const std::string text = iter % 2 ? RandomBytes(rng, 128) : RandomUnicode(rng, 64);
      s->Split(text, &spans);
      uint32_t at = 0;
      for (const TextSpan& sp : spans) {
        ASSERT_EQ(sp.begin, at);
        ASSERT_GT(sp.end, sp.begin);
        at = sp.end;
      }
      ASSERT_EQ(at, text.size());
    }
  }
}

TEST(TokenizerFuzz, LongRunsStayLinear) {
  // Long single-class runs: one word of 200k letters, 200k spaces, 200k digits.
  auto tok = LoadVocab("models/llama-f32.vocab.gguf");
  ASSERT_TRUE(tok);
  for (char c : {'a', ' ', '7', '\n', '!'}) {
    const std::string text(200000, c);
    const auto ids = tok->Encode(text, false, false);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok->Decode(ids), text);
  }
}

// The BPE specification, written for clarity: repeatedly merge the adjacent pair with the
// lowest merge rank (the leftmost one on ties) until no pair has a rank.
std::vector<int32_t> ReferenceBpe(const Tokenizer& tok,
                                  const std::map<std::pair<std::string, std::string>, int>& ranks,
                                  std::string_view word, bool ignore_merges) {
  std::vector<std::string> syms;
  std::string whole;
  for (char c : word) {
    syms.push_back(unicode::ByteToUtf8()[static_cast<uint8_t>(c)]);
    whole += syms.back();
  }
  if (ignore_merges && tok.FindToken(whole) >= 0) return {tok.FindToken(whole)};
  while (syms.size() > 1) {
    int best = -1;
    size_t at = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      auto it = ranks.find({syms[i], syms[i + 1]});
      if (it != ranks.end() && (best < 0 || it->second < best)) {
        best = it->second;
        at = i;
      }
    }
    if (best < 0) break;
    syms[at] += syms[at + 1];
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  std::vector<int32_t> ids;
  for (const auto& s : syms) ids.push_back(tok.FindToken(s));
  return ids;
}

TEST(TokenizerFuzz, BpeMatchesReferenceAlgorithm) {
  for (const char* file :
       {"ggml-vocab-gpt-2.gguf", "ggml-vocab-starcoder.gguf", "models/llama-f32.vocab.gguf",
        "models/qwen3moe-f32.vocab.gguf", "models/deepseek2-f32.vocab.gguf"}) {
    SCOPED_TRACE(file);
    auto g = GgufFile::Open(testing_util::TokDir() + "/" + file);
    ASSERT_TRUE(g.ok());
    auto tok = Tokenizer::FromGguf(*g);
    ASSERT_TRUE(tok.ok());
    std::map<std::pair<std::string, std::string>, int> ranks;
    const GgufArray* merges = g->Find("tokenizer.ggml.merges")->AsArray();
    for (size_t i = 0; i < merges->items.size(); ++i) {
      const std::string& m = *merges->items[i].AsString();
      const size_t sp = m.find(' ', 1);
      ranks.emplace(std::make_pair(m.substr(0, sp), m.substr(sp + 1)), static_cast<int>(i));
    }
    const PreTokenizerPreset preset = PreTokenizerForName((*tok)->pre_tokenizer());
    auto splitter = RegexSplitter::Compile(preset.patterns);
    ASSERT_TRUE(splitter.ok());
    std::mt19937 rng(11);
    std::vector<TextSpan> spans;
    for (int iter = 0; iter < 300; ++iter) {
      const std::string text = RandomUnicode(rng, 60);
      std::vector<int32_t> expected;
      splitter->Split(text, &spans);
      for (const TextSpan& s : spans) {
        for (int32_t id :
             ReferenceBpe(**tok, ranks, std::string_view(text).substr(s.begin, s.end - s.begin),
                          preset.ignore_merges)) {
          expected.push_back(id);
        }
      }
      ASSERT_EQ((*tok)->Encode(text, false, false), expected) << "iteration " << iter;
    }
  }
}

TEST(Unicode, IncompleteTailAndValidation) {
  EXPECT_EQ(unicode::IncompleteTailLength("abc"), 0u);
  EXPECT_EQ(unicode::IncompleteTailLength("a\xF0\x9F"), 2u);
  EXPECT_EQ(unicode::IncompleteTailLength("a\xF0\x9F\xA6"), 3u);
  EXPECT_EQ(unicode::IncompleteTailLength("a\xF0\x9F\xA6\x99"), 0u);
  EXPECT_EQ(unicode::IncompleteTailLength("\xE0"), 1u);
  EXPECT_EQ(unicode::IncompleteTailLength("\xE0\x80"), 0u);  // overlong: never completes
  EXPECT_EQ(unicode::IncompleteTailLength("\xED\xA0"), 0u);  // surrogate
  EXPECT_EQ(unicode::IncompleteTailLength("\xC0"), 0u);
  EXPECT_FALSE(unicode::IsValidUtf8("\xC0\x80"));
  EXPECT_FALSE(unicode::IsValidUtf8("\xF4\x90\x80\x80"));
  EXPECT_TRUE(unicode::IsValidUtf8("\xF4\x8F\xBF\xBF"));
  EXPECT_EQ(unicode::ToValidUtf8("a\xFF"
                                 "b"),
            "a\xEF\xBF\xBD"
            "b");
}

}  // namespace
}  // namespace moe
