// StopFilter and ReasoningSplitter fed the same texts cut at every byte position, against
// expectations computed independently (std::string::find) or written by hand.
#include "server/api/filters.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace moe {
namespace {

// Independent UTF-8 validity check (structure only), for "never split a character".
bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

std::string Expected(const std::string& text, const std::vector<std::string>& stops, bool* found) {
  size_t p = std::string::npos;
  for (const auto& s : stops)
    if (!s.empty()) p = std::min(p, text.find(s));
  *found = p != std::string::npos;
  return text.substr(0, p);
}

// Runs the filter over `pieces`, checking each streamed output is whole UTF-8 characters.
std::string RunStop(const std::vector<std::string>& pieces, const std::vector<std::string>& stops, bool* stopped) {
  StopFilter f(stops);
  std::string out;
  for (const auto& p : pieces) {
    std::string o = f.Push(p);
    EXPECT_TRUE(ValidUtf8(o)) << "split character in '" << o << "'";
    out += o;
  }
  out += f.Flush();
  *stopped = f.stopped();
  return out;
}

std::vector<std::vector<std::string>> Splits(const std::string& text) {
  std::vector<std::vector<std::string>> all;
  all.push_back({text});
  for (size_t i = 0; i <= text.size(); ++i) all.push_back({text.substr(0, i), text.substr(i)});
  for (size_t k = 1; k <= 3; ++k) {
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size(); i += k) pieces.push_back(text.substr(i, k));
    all.push_back(pieces);
  }
  std::mt19937 rng(1234);
  for (int r = 0; r < 20; ++r) {
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      size_t k = rng() % 5;  // includes empty pieces
      pieces.push_back(text.substr(i, k));
      i += k;
    }
    all.push_back(pieces);
  }
  return all;
}

TEST(StopFilter, EveryCutMatchesFind) {
  const std::vector<std::string> texts = {
      "Hello world<|end|>tail",
      "no stop here at all",
      "abcabcabd and more",
      "<|e<|en<|end|>",
      "überstop: 日本語</s>😀 after",
      "😀😀 stop😀 here",
      "aaaaab",
      "END",
      "",
      "xEN",
  };
  const std::vector<std::vector<std::string>> stop_sets = {
      {"<|end|>"}, {"</s>", "stop"}, {"abd"}, {"aab", "b"}, {"END"}, {"😀 "}, {"日本"}, {}, {"abcd", "bc"}, {"", "o"},
  };
  for (const auto& text : texts) {
    for (const auto& stops : stop_sets) {
      bool found = false;
      const std::string want = Expected(text, stops, &found);
      for (const auto& pieces : Splits(text)) {
        bool stopped = false;
        EXPECT_EQ(RunStop(pieces, stops, &stopped), want) << "text '" << text << "' pieces " << pieces.size();
        EXPECT_EQ(stopped, found) << text;
      }
    }
  }
}

TEST(StopFilter, OverlappingStopsUseEarliestStart) {
  bool stopped = false;
  EXPECT_EQ(RunStop({"a", "b", "c", "d"}, {"abcd", "bc"}, &stopped), "");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(RunStop({"a", "b", "c", "e"}, {"abcd", "bc"}, &stopped), "a");
  EXPECT_TRUE(stopped);
}

TEST(StopFilter, HoldsBackOnlyPossibleStopPrefixes) {
  StopFilter f({"<|end|>"});
  EXPECT_EQ(f.Push("Hello <"), "Hello ");
  EXPECT_EQ(f.Push("|e"), "");
  EXPECT_EQ(f.Push("x"), "<|ex");  // not a stop after all
  EXPECT_EQ(f.Push(" <|end"), " ");
  EXPECT_FALSE(f.stopped());
  EXPECT_EQ(f.Push("|> more"), "");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.Push("late"), "");
  EXPECT_EQ(f.Flush(), "");
}

TEST(StopFilter, FlushReturnsHeldPrefix) {
  StopFilter f({"END"});
  EXPECT_EQ(f.Push("foo EN"), "foo ");
  EXPECT_EQ(f.Flush(), "EN");
  EXPECT_FALSE(f.stopped());
}

TEST(StopFilter, MultiByteCharactersAreHeldWhole) {
  StopFilter f({});
  EXPECT_EQ(f.Push("a\xC3"), "a");
  EXPECT_EQ(f.Push("\xA9!"), "\xC3\xA9!");
  // U+1F600 byte by byte.
  EXPECT_EQ(f.Push("\xF0"), "");
  EXPECT_EQ(f.Push("\x9F"), "");
  EXPECT_EQ(f.Push("\x98"), "");
  EXPECT_EQ(f.Push("\x80"), "\xF0\x9F\x98\x80");
  // An incomplete character at the end of generation is still returned by Flush.
  EXPECT_EQ(f.Push("x\xE6\x97"), "x");
  EXPECT_EQ(f.Flush(), "\xE6\x97");
}

TEST(StopFilter, InvalidBytesAreNotHeldForever) {
  StopFilter f({});
  EXPECT_EQ(f.Push("\x80\x80\x80\x80"), "\x80\x80\x80\x80");  // stray continuation bytes
  EXPECT_EQ(f.Push("\xFF"), "\xFF");
}

TEST(Utf8, CompleteUtf8Prefix) {
  EXPECT_EQ(CompleteUtf8Prefix(""), 0u);
  EXPECT_EQ(CompleteUtf8Prefix("ab"), 2u);
  EXPECT_EQ(CompleteUtf8Prefix("a\xC3"), 1u);
  EXPECT_EQ(CompleteUtf8Prefix("a\xC3\xA9"), 3u);
  EXPECT_EQ(CompleteUtf8Prefix("a\xE6\x97"), 1u);
  EXPECT_EQ(CompleteUtf8Prefix("a\xE6\x97\xA5"), 4u);
  EXPECT_EQ(CompleteUtf8Prefix("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(CompleteUtf8Prefix("\xF0\x9F\x98\x80"), 4u);
}

struct Split {
  std::string reasoning, content;
};

Split RunSplitter(const std::vector<std::string>& pieces, bool starts_in_reasoning, const std::string& open = "<think>",
                  const std::string& close = "</think>") {
  ReasoningSplitter s(starts_in_reasoning, open, close);
  Split out;
  for (const auto& p : pieces) {
    auto d = s.Push(p);
    EXPECT_TRUE(ValidUtf8(d.reasoning) && ValidUtf8(d.content)) << "split character";
    out.reasoning += d.reasoning;
    out.content += d.content;
  }
  auto d = s.Flush();
  out.reasoning += d.reasoning;
  out.content += d.content;
  return out;
}

TEST(ReasoningSplitter, EveryCutGivesTheSameSplit) {
  struct Case {
    std::string text;
    bool starts_in_reasoning;
    std::string reasoning, content;
  };
  const Case cases[] = {
      {"<think>abc</think>\n\nHello", false, "abc", "Hello"},
      {"\n <think>\nplan 日本</think> \n Answer é", false, "\nplan 日本", "Answer é"},
      {"abc</think>\n\nHi <think>x</think>", true, "abc", "Hi <think>x</think>"},
      {"Hello <think> x", false, "", "Hello <think> x"},
      {"  plain", false, "", "  plain"},
      {"<thi", false, "", "<thi"},
      {"<thx and", false, "", "<thx and"},
      {"<think>never closed </thi", false, "never closed </thi", ""},
      {"<think>a</think>\n\n", false, "a", ""},
      {"<think></think>", false, "", ""},
      {"", true, "", ""},
      {"😀 reasoning</think>😀", true, "😀 reasoning", "😀"},
      {"r</think> a</think>", true, "r", "a</think>"},
  };
  for (const auto& c : cases) {
    for (const auto& pieces : Splits(c.text)) {
      Split got = RunSplitter(pieces, c.starts_in_reasoning);
      EXPECT_EQ(got.reasoning, c.reasoning) << "text '" << c.text << "' pieces " << pieces.size();
      EXPECT_EQ(got.content, c.content) << "text '" << c.text << "' pieces " << pieces.size();
    }
  }
}

TEST(ReasoningSplitter, HoldsPartialTagsWhileStreaming) {
  ReasoningSplitter s(true);
  auto d = s.Push("step one</th");
  EXPECT_EQ(d.reasoning, "step one");
  EXPECT_EQ(d.content, "");
  EXPECT_TRUE(s.in_reasoning());
  d = s.Push("ink>\n");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "");
  EXPECT_FALSE(s.in_reasoning());
  d = s.Push("\nDone");
  EXPECT_EQ(d.content, "Done");
}

TEST(ReasoningSplitter, LongLeadingWhitespaceThenTag) {
  const std::string spaces(200000, ' ');
  ReasoningSplitter s(false);
  for (size_t i = 0; i < spaces.size(); i += 2) EXPECT_EQ(s.Push("  ").content, "");
  auto d = s.Push("<think>r</think>c");
  EXPECT_EQ(d.reasoning, "r");
  EXPECT_EQ(d.content, "c");
}

TEST(ReasoningSplitter, CustomTags) {
  Split got = RunSplitter({"[R]why", "[/R] so"}, false, "[R]", "[/R]");
  EXPECT_EQ(got.reasoning, "why");
  EXPECT_EQ(got.content, "so");
}

TEST(ReasoningSplitter, AfterStopFilter) {
  // The server's order: stop filter on raw text, then the splitter.
  StopFilter stop({"<|im_end|>"});
  ReasoningSplitter split(false);
  Split out;
  for (std::string piece : {"<th", "ink>hm", "m</think>", "\nYes.<|im", "_end|>junk"}) {
    auto d = split.Push(stop.Push(piece));
    out.reasoning += d.reasoning;
    out.content += d.content;
  }
  auto d = split.Push(stop.Flush());
  out.reasoning += d.reasoning;
  out.content += d.content;
  d = split.Flush();
  out.reasoning += d.reasoning;
  out.content += d.content;
  EXPECT_TRUE(stop.stopped());
  EXPECT_EQ(out.reasoning, "hmm");
  EXPECT_EQ(out.content, "Yes.");
}

TEST(PromptOpensThinkBlock, Cases) {
  EXPECT_TRUE(PromptOpensThinkBlock("<|im_start|>assistant\n<think>\n"));
  EXPECT_TRUE(PromptOpensThinkBlock("<｜Assistant｜><think>"));
  EXPECT_FALSE(PromptOpensThinkBlock("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  EXPECT_FALSE(PromptOpensThinkBlock("<|im_start|>assistant\n"));
  EXPECT_FALSE(PromptOpensThinkBlock("<think>partial answer"));
  EXPECT_FALSE(PromptOpensThinkBlock(""));
  EXPECT_FALSE(PromptOpensThinkBlock("   \n"));
  EXPECT_TRUE(PromptOpensThinkBlock("x[R] \t", "[R]"));
}

}  // namespace
}  // namespace moe
