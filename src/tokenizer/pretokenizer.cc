// PCRE2-backed regex splitting and the table of named pre-tokenizer patterns; see
// pretokenizer.h.
#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "tokenizer/unicode.h"

namespace moe {
namespace {

// Oniguruma (which Hugging Face tokenizers use) and llama.cpp both read `\s` as the Unicode
// White_Space property; PCRE2 10.42 with UCP leaves out U+0085 (NEL). Spell the set out.
constexpr std::string_view kWhiteSpaceItems = R"(\t\n\x0B\f\r\x{85}\p{Z})";

std::string RewriteWhitespace(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 32);
  bool in_class = false;
  size_t class_start = 0;  // index in `p` just after '[' or '[^'
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      if (e == 's') {
        if (in_class) {
          out += kWhiteSpaceItems;
        } else {
          out += '[';
          out += kWhiteSpaceItems;
          out += ']';
        }
      } else if (e == 'S' && !in_class) {
        out += "[^";
        out += kWhiteSpaceItems;
        out += ']';
      } else {
        out += c;
        out += e;
      }
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      class_start = i + 1;
      continue;
    }
    if (in_class && c == ']' && i != class_start) in_class = false;
    out += c;
  }
  return out;
}

// Pattern text below is llama.cpp's (llama-vocab.cpp, llm_tokenizer_bpe), which in turn is
// the `Split` regex of each model's tokenizer.json.
const char* const kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char* const kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek LLM's cased-letter class, written with code points: several of its characters
// (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A) change under NFC normalization, which
// would silently corrupt the ranges if they were pasted as literals.
const char* const kDeepseekLlmLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
    R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})"
    R"(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
    R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D})"
    R"(\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
    R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})"
    R"(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
    R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})"
    R"(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
    R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
    R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})"
    R"(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})"
    R"(\x{1E900}-\x{1E943}]+)";
const char* const kCjkHangul = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
const char* const kDeepseekV3Main =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kBloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";

bool In(std::string_view s, std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (s == n) return true;
  }
  return false;
}

}  // namespace

const std::string& Gpt2Pattern() {
  static const std::string p = kGpt2;
  return p;
}

PreTokenizerPreset PreTokenizerForName(std::string_view pre) {
  PreTokenizerPreset p;
  if (In(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
               "lfm2"})) {
    p.patterns = {kLlama3};
    p.ignore_merges = true;
    p.add_bos = true;
  } else if (In(pre, {"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"})) {
    p.patterns = {kLlama3};
  } else if (pre == "deepseek-llm") {
    p.patterns = {
        "[\r\n]",
        kDeepseekLlmLetters,
        R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)",
        R"(\s+$)",
        kCjkHangul,
        R"(\p{N}+)"};
  } else if (pre == "deepseek-coder") {
    p.patterns = {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjkHangul, R"(\p{N})"};
  } else if (In(pre, {"deepseek-v3", "hunyuan-dense"})) {
    p.patterns = {R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
                  kDeepseekV3Main};
  } else if (pre == "falcon") {
    p.patterns = {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"};
  } else if (In(pre, {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone",
                      "minerva-7b"})) {
    p.patterns = {R"(\p{N})", kGpt2};
  } else if (In(pre,
                {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
                 "a.x-4.0", "mellum", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo",
                 "jais", "exaone4", "trillion", "granite-docling"})) {
    p.patterns = {kGpt2};
  } else if (In(pre, {"qwen2", "deepseek-r1-qwen", "kormo", "stablelm2", "megrez", "hunyuan",
                      "grok-2"})) {
    p.patterns = {kQwen2};
  } else if (In(pre, {"poro-chat", "bloom", "gpt3-finnish"})) {
    p.patterns = {kBloom};
  } else if (pre == "viking") {
    p.patterns = {kBloom, R"(\p{N})"};
  } else if (In(pre, {"gpt-4o", "llama4", "minimax-m2"})) {
    p.patterns = {kO200k};
  } else if (pre == "tekken") {
    p.patterns = {kTekken};
    p.ignore_merges = true;
    p.add_bos = true;
  } else if (pre == "seed-coder") {
    p.patterns = {
        R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"};
  } else if (In(pre, {"bailingmoe", "bailingmoe2", "llada-moe"})) {
    // PCRE2 has the possessive quantifiers of the original tokenizer.json regex.
    p.patterns = {
        R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"};
  } else {
    p.known = pre.empty() || pre == "default";
    p.patterns = {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"};
  }
  return p;
}

struct RegexSplitter::Impl {
  std::vector<pcre2_code*> codes;
  std::vector<uint8_t> jit;  // per code: JIT-compiled, so pcre2_jit_match's fast path applies
  ~Impl() {
    for (auto* c : codes) pcre2_code_free(c);
  }
};

RegexSplitter::RegexSplitter() : impl_(std::make_unique<Impl>()) {}
RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

size_t RegexSplitter::num_patterns() const { return impl_->codes.size(); }

Result<RegexSplitter> RegexSplitter::Compile(const std::vector<std::string>& patterns) {
  RegexSplitter s;
  for (const auto& raw : patterns) {
    const std::string pattern = RewriteWhitespace(raw);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return Status::Errorf("pre-tokenizer regex '{}' does not compile at offset {}: {}", raw,
                            static_cast<size_t>(err_off), reinterpret_cast<const char*>(msg));
    }
    // JIT is an optimization: where it is unavailable the interpreter gives the same matches.
    s.impl_->jit.push_back(pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0);
    s.impl_->codes.push_back(code);
  }
  return s;
}

namespace {

// Splits piece `p` of `text` with one pattern, appending matches and the gaps between them.
void SplitPiece(const pcre2_code* code, bool jit, std::string_view text, TextSpan p,
                pcre2_match_data* md, std::vector<TextSpan>* out) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + p.begin);
  const size_t len = p.end - p.begin;
  size_t pos = 0;
  size_t last = 0;
  while (pos < len) {
    // The subject is well-formed UTF-8 (Split guarantees it), which pcre2_jit_match assumes.
    int rc = jit ? pcre2_jit_match(code, subject, len, pos, 0, md, nullptr)
                 : pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
      // JIT stack exhausted on a pathological piece: the interpreter keeps its state on the
      // heap. If that fails too, the rest of the piece stays whole.
      rc = pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
    }
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t ms = ov[0];
    const size_t me = ov[1];
    if (me <= ms) {  // empty match: no piece, step over one character
      if (ms >= len) break;
      const size_t n = unicode::ValidSequenceLength(text.substr(p.begin), ms);
      pos = ms + (n ? n : 1);
      continue;
    }
    if (ms > last)
      out->push_back({p.begin + static_cast<uint32_t>(last), p.begin + static_cast<uint32_t>(ms)});
    out->push_back({p.begin + static_cast<uint32_t>(ms), p.begin + static_cast<uint32_t>(me)});
    last = me;
    pos = me;
  }
  if (last < len) out->push_back({p.begin + static_cast<uint32_t>(last), p.end});
}

}  // namespace

void RegexSplitter::SplitValid(std::string_view text, std::vector<TextSpan>* pieces) const {
  pieces->clear();
  if (text.empty()) return;
  pieces->push_back({0, static_cast<uint32_t>(text.size())});
  if (impl_->codes.empty()) return;
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  if (!md) return;  // out of memory: leave the text whole
  std::vector<TextSpan> next;
  for (size_t k = 0; k < impl_->codes.size(); ++k) {
    next.clear();
    next.reserve(pieces->size() * 2);
    for (const TextSpan& p : *pieces)
      SplitPiece(impl_->codes[k], impl_->jit[k], text, p, md, &next);
    pieces->swap(next);
  }
  pcre2_match_data_free(md);
}

void RegexSplitter::Split(std::string_view text, std::vector<TextSpan>* pieces) const {
  if (unicode::IsValidUtf8(text)) {
    SplitValid(text, pieces);
    return;
  }
  // Match a sanitized copy where each ill-formed byte reads as U+FFFD, then map the piece
  // boundaries (always at character starts) back to the original bytes.
  std::string clean;
  std::vector<uint32_t> orig;  // orig[k]: offset in `text` of the character at clean[k]
  clean.reserve(text.size() + 16);
  orig.reserve(text.size() + 16);
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = unicode::ValidSequenceLength(text, i);
    if (n == 0) {
      clean += "\xEF\xBF\xBD";
      orig.insert(orig.end(), 3, static_cast<uint32_t>(i));
      ++i;
    } else {
      clean.append(text.substr(i, n));
      orig.insert(orig.end(), n, static_cast<uint32_t>(i));
      i += n;
    }
  }
  orig.push_back(static_cast<uint32_t>(text.size()));
  SplitValid(clean, pieces);
  for (TextSpan& s : *pieces) s = {orig[s.begin], orig[s.end]};
}

}  // namespace moe
