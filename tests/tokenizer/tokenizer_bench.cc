// tokenizer_bench: single-thread encode/decode throughput (MB/s of UTF-8 text) on a generated
// mixed-language text (English prose, code, Russian, Chinese, Japanese, emoji, numbers,
// whitespace runs). Median of repeated runs after a warm-up, timed in thread CPU time. Not part
// of ctest.
//
//   tokenizer_bench [--mb N] [--reps N] [vocab.gguf ...]
// Without files it times the kit vocabularies under tests/data/tokenizer.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

// Sentences of random words from per-language word lists, random numbers and identifiers,
// code lines and whitespace runs: words repeat with a Zipf-like skew, as in real text.
std::string MakeText(size_t bytes) {
  const std::vector<std::vector<std::string>> words = {
      {"the",       "of",        "and",    "to",        "in",    "is",        "that",    "for",
       "it",        "with",      "as",     "was",       "on",    "model",     "expert",  "routing",
       "tokenizer", "inference", "memory", "bandwidth", "layer", "attention", "quickly", "jumps",
       "brown",     "fox",       "lazy",   "dog",       "I'll",  "don't",     "we've",   "Hello",
       "World",     "naïve",     "café",   "Führer",    "señor", "déjà",      "vu"},
      {"и", "в", "не", "на", "что", "модель", "эксперт", "память", "Привет", "мир", "хорошо",
       "сегодня", "погода", "Български", "нещо"},
      {"我", "想", "在", "苹果", "公司", "工作", "这是", "一个", "很好", "的", "机会", "模型",
       "专家", "路由"},
      {"こんにちは", "世界", "今日", "は", "いい", "天気", "です", "ね", "モデル", "トークン"},
      {"🚀", "😶‍🌫️", "✅", "🦙", "😁", "👍🏽", "🇩🇪"},
  };
  const char* const kCode[] = {"for (int i = 0; i < n; ++i) {\n    sum += a[i] * b[i];\n}\n",
                               "    def forward(self, x):\n        return self.proj(x) + 1e-6\n\n",
                               "<div class=\"x\">Hello &amp; goodbye</div>\n",
                               "SELECT id, name FROM users WHERE age >= 21 ORDER BY name;\n",
                               "\t\t  \n\n   "};
  std::mt19937 rng(42);
  std::string s;
  s.reserve(bytes + 256);
  while (s.size() < bytes) {
    const unsigned kind = rng() % 10;
    if (kind < 6) {  // a sentence in one language, some emoji mixed in
      const auto& list = words[kind < 3 ? 0 : kind - 2];
      const int n = 4 + static_cast<int>(rng() % 12);
      for (int w = 0; w < n; ++w) {
        // Squaring a uniform index skews towards the first (common) words.
        const double u = static_cast<double>(rng() % 1000) / 1000.0;
        const std::string& word =
            list[static_cast<size_t>(u * u * static_cast<double>(list.size()))];
        if (kind < 3 || kind == 3) s += ' ';
        s += word;
        if (rng() % 16 == 0) s += words[4][rng() % words[4].size()];
      }
      s += (rng() % 4 == 0) ? "?\n" : ". ";
    } else if (kind < 8) {  // numbers and identifiers
      s += " x" + std::to_string(rng() % 100000) + " = " + std::to_string(rng() % 10000000) + "." +
           std::to_string(rng() % 1000) + ";";
    } else {
      s += kCode[rng() % std::size(kCode)];
    }
  }
  return s;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string CpuName() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t c = line.find(':');
      return c == std::string::npos ? line : line.substr(c + 2);
    }
  }
  return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
  double mb = 8;
  int reps = 5;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mb" && i + 1 < argc) {
      mb = std::atof(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    const std::string d = std::string(MOE_TEST_DATA) + "/tokenizer/";
    for (const char* f :
         {"ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-deepseek-coder.gguf",
          "ggml-vocab-starcoder.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"}) {
      files.push_back(d + f);
    }
  }
  const std::string text = MakeText(static_cast<size_t>(mb * 1e6));
  const double text_mb = static_cast<double>(text.size()) / 1e6;
  std::printf(
      "machine: %s, 1 thread; text: %.1f MB mixed-language; median of %d runs after "
      "1 warm-up; MB per second of thread CPU time\n",
      CpuName().c_str(), text_mb, reps);
  std::printf("%-34s %12s %12s %12s %10s\n", "vocabulary", "encode MB/s", "decode MB/s", "tokens",
              "bytes/tok");
  // Thread CPU time, not wall time: on a shared machine a descheduled thread would otherwise
  // look slow.
  auto now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  for (const std::string& path : files) {
    auto g = moe::GgufFile::Open(path);
    if (!g.ok()) {
      std::fprintf(stderr, "%s\n", g.status().message().c_str());
      return 1;
    }
    auto tok = moe::Tokenizer::FromGguf(*g);
    if (!tok.ok()) {
      std::fprintf(stderr, "%s\n", tok.status().message().c_str());
      return 1;
    }
    std::vector<int32_t> ids = (*tok)->Encode(text, false, false);  // warm-up
    std::string back = (*tok)->Decode(ids);
    std::vector<double> enc, dec;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now();
      ids = (*tok)->Encode(text, false, false);
      const double t1 = now();
      back = (*tok)->Decode(ids);
      const double t2 = now();
      enc.push_back(text_mb / (t1 - t0));
      dec.push_back(text_mb / (t2 - t1));
    }
    const std::string name = path.substr(path.find_last_of('/') + 1);
    std::printf("%-34s %12.1f %12.1f %12zu %10.2f%s\n", name.c_str(), Median(enc), Median(dec),
                ids.size(), static_cast<double>(text.size()) / static_cast<double>(ids.size()),
                back == text ? "" : "  (decode differs from input!)");
  }
  return 0;
}
