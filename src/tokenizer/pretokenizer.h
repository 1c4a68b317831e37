// Regex pre-tokenization for byte-level BPE: the pattern lists llama.cpp selects by
// `tokenizer.ggml.pre` (llama-vocab.cpp, llm_tokenizer_bpe), compiled with PCRE2 (UTF + UCP,
// JIT) and applied the way Hugging Face's Split(behavior="Isolated") does: every pattern
// refines the pieces the previous one produced, and both matches and the gaps between them
// are kept, so the pieces always tile the input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace moe {

// Byte range [begin, end) of one pre-tokenized piece.
struct TextSpan {
  uint32_t begin = 0;
  uint32_t end = 0;
};

class RegexSplitter {
 public:
  RegexSplitter();
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Compiles the patterns (PCRE2 syntax, `\s` meaning Unicode White_Space as in Oniguruma).
  // An empty list splits nothing: the whole text is one piece.
  static Result<RegexSplitter> Compile(const std::vector<std::string>& patterns);

  // Splits `text` (any bytes; ill-formed UTF-8 is matched as U+FFFD) into pieces that tile it.
  // Thread-safe.
  void Split(std::string_view text, std::vector<TextSpan>* pieces) const;

  size_t num_patterns() const;

 private:
  struct Impl;
  void SplitValid(std::string_view text, std::vector<TextSpan>* pieces) const;
  std::unique_ptr<Impl> impl_;
};

// Named pre-tokenizer presets (the `tokenizer.ggml.pre` values llama.cpp knows).
struct PreTokenizerPreset {
  std::vector<std::string> patterns;
  bool ignore_merges = false;  // llama-bpe: a piece that is itself a token skips BPE
  bool add_bos = false;        // default add_bos_token when the metadata has none
  bool known = true;           // false: unrecognized name, fell back to "default"
};
PreTokenizerPreset PreTokenizerForName(std::string_view pre);

// The GPT-2 pattern Hugging Face's ByteLevel(use_regex=true) uses.
const std::string& Gpt2Pattern();

}  // namespace moe
