// Jinja2 lexer (see lexer.h). Mirrors jinja2/lexer.py (3.1): the root rule with
// OptionalLStrip, the comment / block / variable / raw end rules, and the tag rules
// (whitespace, float, integer, name, string, operator) tried in that order.
#include "tokenizer/jinja/lexer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "tokenizer/jinja/py_string.h"

namespace moe::jinja {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (static_cast<unsigned char>(c) >= 0x80);
}
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

// Jinja2 3.x: only \r\n, \r and \n are line breaks; one trailing newline is dropped
// (keep_trailing_newline=False).
std::string NormalizeNewlines(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out.push_back(src[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Python str.rstrip() (Unicode whitespace).
std::string_view RStrip(std::string_view s) {
  const std::u32string cs = DecodeUtf8(s);
  size_t e = cs.size();
  while (e > 0 && IsPyWhitespace(cs[e - 1])) --e;
  size_t bytes = 0;
  for (size_t i = 0; i < e; ++i) {
    std::string tmp;
    AppendUtf8(cs[i], tmp);
    bytes += tmp.size();
  }
  return s.substr(0, bytes);
}

// Length in bytes of the Unicode whitespace run (Python \s*) starting at s[pos].
size_t WhitespaceRun(std::string_view s, size_t pos) {
  size_t i = pos;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (!IsPyWhitespace(c)) break;
      ++i;
      continue;
    }
    // Decode one multi-byte code point.
    std::string_view rest = s.substr(i, std::min<size_t>(4, s.size() - i));
    const std::u32string cp = DecodeUtf8(rest);
    if (cp.empty() || !IsPyWhitespace(cp[0])) break;
    std::string enc;
    AppendUtf8(cp[0], enc);
    i += enc.size();
  }
  return i - pos;
}

bool AllWhitespace(std::string_view s) {
  return !s.empty() && WhitespaceRun(s, 0) == s.size();
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(NormalizeNewlines(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  Result<std::vector<Token>> Run() {
    while (pos_ < src_.size()) MOE_RETURN_IF_ERROR(LexRoot());
    Token eof = MakeToken(TokenType::kEof, src_.size());
    tokens_.push_back(eof);
    return std::move(tokens_);
  }

 private:
  Token MakeToken(TokenType type, size_t offset) {
    Token t;
    t.type = type;
    Locate(offset, t.line, t.column);
    return t;
  }

  // Tokens are located in increasing offset order, so locating continues from the previous
  // answer: O(total source) instead of O(line length) per token.
  void Locate(size_t offset, int& line, int& column) const {
    if (offset < cache_offset_) {
      auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
      const size_t idx = static_cast<size_t>(it - line_starts_.begin()) - 1;
      cache_offset_ = line_starts_[idx];
      cache_line_ = static_cast<int>(idx) + 1;
      cache_column_ = 1;
    }
    for (size_t i = cache_offset_; i < offset && i < src_.size(); ++i) {
      const auto c = static_cast<unsigned char>(src_[i]);
      if (c == '\n') {
        ++cache_line_;
        cache_column_ = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++cache_column_;
      }
    }
    cache_offset_ = std::max(cache_offset_, offset);
    line = cache_line_;
    column = cache_column_;
  }

  Status ErrorAt(size_t offset, std::string_view message) const {
    int line = 0, column = 0;
    Locate(offset, line, column);
    return Status::Errorf("line {}, column {}: {}", line, column, message);
  }

  void EmitText(std::string_view text, size_t offset) {
    if (text.empty()) return;
    Token t = MakeToken(TokenType::kText, offset);
    t.value = std::string(text);
    tokens_.push_back(std::move(t));
  }

  // OptionalLStrip: whitespace handling of the text before a block, comment or raw tag.
  std::string_view StripBefore(std::string_view text, char sign, bool is_variable) const {
    if (sign == '-') return RStrip(text);
    if (sign == '+' || is_variable) return text;
    const size_t nl = text.rfind('\n');
    const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
    if ((l_pos > 0 || line_starting_) && AllWhitespace(text.substr(l_pos))) {
      return text.substr(0, l_pos);
    }
    return text;
  }

  // Matches `{%(-|+|)\s*raw\s*(-%}\s*|%})` at `at`; returns the end offset or 0.
  size_t MatchRawBegin(size_t at, char& sign) const {
    size_t i = at + 2;
    sign = 0;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) sign = src_[i++];
    i += WhitespaceRun(src_, i);
    if (src_.compare(i, 3, "raw") != 0) return 0;
    i += 3;
    i += WhitespaceRun(src_, i);
    if (src_.compare(i, 3, "-%}") == 0) return i + 3 + WhitespaceRun(src_, i + 3);
    if (src_.compare(i, 2, "%}") == 0) return i + 2;
    return 0;
  }

  Status LexRoot() {
    size_t j = pos_;
    while (true) {
      j = src_.find('{', j);
      if (j == std::string::npos || j + 1 >= src_.size()) {
        j = std::string::npos;
        break;
      }
      const char k = src_[j + 1];
      if (k == '{' || k == '%' || k == '#') break;
      ++j;
    }
    if (j == std::string::npos) {  // the rest is data
      EmitText(std::string_view(src_).substr(pos_), pos_);
      pos_ = src_.size();
      return Status();
    }
    const std::string_view text = std::string_view(src_).substr(pos_, j - pos_);
    const char kind = src_[j + 1];
    char raw_sign = 0;
    const size_t raw_end = kind == '%' ? MatchRawBegin(j, raw_sign) : 0;
    char sign = 0;
    if (j + 2 < src_.size() && (src_[j + 2] == '-' || src_[j + 2] == '+')) sign = src_[j + 2];
    EmitText(StripBefore(text, raw_end ? raw_sign : sign, kind == '{'), pos_);
    line_starting_ = false;
    if (raw_end) return LexRaw(j, raw_end);
    const size_t after = j + 2 + (sign ? 1 : 0);
    if (kind == '#') return LexComment(j, after);
    tokens_.push_back(MakeToken(kind == '%' ? TokenType::kBlockBegin : TokenType::kVarBegin, j));
    pos_ = after;
    return LexTag(kind == '%', j);
  }

  Status LexComment(size_t begin, size_t from) {
    const size_t k = src_.find("#}", from);
    if (k == std::string::npos) return ErrorAt(begin, "missing end of comment tag '#}'");
    size_t end = k + 2;
    if (k > from && src_[k - 1] == '-') {
      end += WhitespaceRun(src_, end);
    } else if (k > from && src_[k - 1] == '+') {
      // keep the newline
    } else if (end < src_.size() && src_[end] == '\n') {
      ++end;  // trim_blocks
    }
    line_starting_ = src_[end - 1] == '\n';
    pos_ = end;
    return Status();
  }

  Status LexRaw(size_t begin, size_t content_start) {
    line_starting_ = src_[content_start - 1] == '\n';
    for (size_t p = src_.find("{%", content_start); p != std::string::npos;
         p = src_.find("{%", p + 1)) {
      size_t i = p + 2;
      char sign = 0;
      if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) sign = src_[i++];
      i += WhitespaceRun(src_, i);
      if (src_.compare(i, 6, "endraw") != 0) continue;
      i += 6;
      i += WhitespaceRun(src_, i);
      size_t end = 0;
      if (src_.compare(i, 3, "+%}") == 0) {
        end = i + 3;
      } else if (src_.compare(i, 3, "-%}") == 0) {
        end = i + 3 + WhitespaceRun(src_, i + 3);
      } else if (src_.compare(i, 2, "%}") == 0) {
        end = i + 2;
        if (end < src_.size() && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      const std::string_view text =
          std::string_view(src_).substr(content_start, p - content_start);
      EmitText(StripBefore(text, sign, false), content_start);
      line_starting_ = src_[end - 1] == '\n';
      pos_ = end;
      return Status();
    }
    return ErrorAt(begin, "missing end of raw directive '{% endraw %}'");
  }

  // Matches the end of the current tag at pos_ (only valid with balanced brackets).
  bool MatchTagEnd(bool block, size_t& end) const {
    const std::string_view rest = std::string_view(src_).substr(pos_);
    if (block) {
      if (rest.starts_with("+%}")) {
        end = pos_ + 3;
      } else if (rest.starts_with("-%}")) {
        end = pos_ + 3 + WhitespaceRun(src_, pos_ + 3);
      } else if (rest.starts_with("%}")) {
        end = pos_ + 2;
        if (end < src_.size() && src_[end] == '\n') ++end;  // trim_blocks
      } else {
        return false;
      }
      return true;
    }
    if (rest.starts_with("-}}")) {
      end = pos_ + 3 + WhitespaceRun(src_, pos_ + 3);
    } else if (rest.starts_with("}}")) {
      end = pos_ + 2;
    } else {
      return false;
    }
    return true;
  }

  Status LexTag(bool block, size_t begin) {
    std::vector<char> balance;
    while (true) {
      if (pos_ >= src_.size()) {
        return ErrorAt(begin, block ? "unexpected end of template: block tag '{%' is not closed"
                                    : "unexpected end of template: '{{' is not closed");
      }
      size_t end = 0;
      if (balance.empty() && MatchTagEnd(block, end)) {
        tokens_.push_back(MakeToken(block ? TokenType::kBlockEnd : TokenType::kVarEnd, pos_));
        line_starting_ = src_[end - 1] == '\n';
        pos_ = end;
        return Status();
      }
      if (const size_t ws = WhitespaceRun(src_, pos_); ws > 0) {
        pos_ += ws;
        continue;
      }
      const char c = src_[pos_];
      if (IsDigit(c)) {
        MOE_RETURN_IF_ERROR(LexNumber());
      } else if (IsNameStart(c)) {
        size_t e = pos_;
        while (e < src_.size() && IsNameChar(src_[e])) ++e;
        Token t = MakeToken(TokenType::kName, pos_);
        t.value = src_.substr(pos_, e - pos_);
        tokens_.push_back(std::move(t));
        pos_ = e;
      } else if (c == '\'' || c == '"') {
        MOE_RETURN_IF_ERROR(LexString());
      } else {
        MOE_RETURN_IF_ERROR(LexOperator(balance));
      }
    }
  }

  // Digits with optional single '_' separators; returns the end offset.
  size_t Digits(size_t i) const {
    if (i >= src_.size() || !IsDigit(src_[i])) return i;
    while (i < src_.size()) {
      if (IsDigit(src_[i])) {
        ++i;
      } else if (src_[i] == '_' && i + 1 < src_.size() && IsDigit(src_[i + 1])) {
        i += 2;
      } else {
        break;
      }
    }
    return i;
  }

  Status LexNumber() {
    const size_t start = pos_;
    const bool after_dot = start > 0 && src_[start - 1] == '.';
    size_t i = Digits(start);
    size_t float_end = 0;
    if (!after_dot) {
      size_t f = i;
      if (f + 1 < src_.size() && src_[f] == '.' && IsDigit(src_[f + 1])) f = Digits(f + 1);
      if (f < src_.size() && (src_[f] == 'e' || src_[f] == 'E')) {
        size_t e = f + 1;
        if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
        const size_t de = Digits(e);
        if (de > e) float_end = de;
      }
      if (float_end == 0 && f > i) float_end = f;
    }
    std::string digits;
    if (float_end) {
      for (size_t k = start; k < float_end; ++k) {
        if (src_[k] != '_') digits.push_back(src_[k]);
      }
      Token t = MakeToken(TokenType::kFloat, start);
      t.float_value = std::strtod(digits.c_str(), nullptr);
      tokens_.push_back(std::move(t));
      pos_ = float_end;
      return Status();
    }
    // Integers: 0b / 0o / 0x prefixes, decimal without leading zeros, or zeros.
    int base = 10;
    size_t e = i;
    if (src_[start] == '0' && start + 1 < src_.size()) {
      const char p = static_cast<char>(src_[start + 1] | 0x20);
      if (p == 'b' || p == 'o' || p == 'x') {
        base = p == 'b' ? 2 : (p == 'o' ? 8 : 16);
        e = start + 2;
        while (e < src_.size() && (IsHex(src_[e]) || src_[e] == '_')) {
          const char d = src_[e];
          if (d != '_' && (base == 2 ? d > '1' : (base == 8 ? d > '7' : false))) break;
          ++e;
        }
        if (e == start + 2) base = 10, e = start + 1;
      } else {
        e = start + 1;
        while (e < src_.size() && (src_[e] == '0' || (src_[e] == '_' && e + 1 < src_.size() &&
                                                       src_[e + 1] == '0'))) {
          ++e;
        }
      }
    }
    for (size_t k = start + (base == 10 ? 0 : 2); k < e; ++k) {
      if (src_[k] != '_') digits.push_back(src_[k]);
    }
    errno = 0;
    char* endp = nullptr;
    const long long v = std::strtoll(digits.c_str(), &endp, base);
    if (errno == ERANGE) return ErrorAt(start, "integer literal out of range");
    Token t = MakeToken(TokenType::kInt, start);
    t.int_value = v;
    tokens_.push_back(std::move(t));
    pos_ = e;
    return Status();
  }

  Status LexString() {
    const size_t start = pos_;
    const char quote = src_[pos_];
    size_t i = pos_ + 1;
    std::string value;
    while (true) {
      if (i >= src_.size()) return ErrorAt(start, "unterminated string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) return ErrorAt(start, "unterminated string literal");
      const char e = src_[i + 1];
      i += 2;
      auto hex = [&](int n) -> Result<char32_t> {
        if (i + n > src_.size()) return ErrorAt(i - 2, "truncated escape in string literal");
        char32_t v = 0;
        for (int k = 0; k < n; ++k) {
          const char h = src_[i + k];
          if (!IsHex(h)) return ErrorAt(i - 2, "truncated escape in string literal");
          v = v * 16 + static_cast<char32_t>(IsDigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        i += n;
        return v;
      };
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'v': value.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          MOE_ASSIGN_OR_RETURN(char32_t v, hex(e == 'x' ? 2 : (e == 'u' ? 4 : 8)));
          if (v > 0x10FFFF) return ErrorAt(i, "illegal Unicode character in string literal");
          AppendUtf8(v, value);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {  // up to three octal digits
            char32_t v = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
              v = v * 8 + static_cast<char32_t>(src_[i++] - '0');
            }
            AppendUtf8(v, value);
          } else {  // unknown escapes are kept verbatim
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    Token t = MakeToken(TokenType::kString, start);
    t.value = std::move(value);
    tokens_.push_back(std::move(t));
    pos_ = i + 1;
    return Status();
  }

  Status LexOperator(std::vector<char>& balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    static constexpr std::string_view kOne = "+-/*%~[](){}><=.:|,;";
    const std::string_view rest = std::string_view(src_).substr(pos_);
    std::string op;
    for (std::string_view two : kTwo) {
      if (rest.starts_with(two)) op = std::string(two);
    }
    if (op.empty() && kOne.find(rest[0]) != std::string_view::npos) op = std::string(1, rest[0]);
    if (op.empty()) {
      std::string shown;
      AppendUtf8(DecodeUtf8(rest.substr(0, std::min<size_t>(4, rest.size())))[0], shown);
      return ErrorAt(pos_, fmt::format("unexpected character '{}'", shown));
    }
    const char c = op[0];
    if (op.size() == 1 && (c == '(' || c == '[' || c == '{')) {
      balance.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (op.size() == 1 && (c == ')' || c == ']' || c == '}')) {
      if (balance.empty()) return ErrorAt(pos_, fmt::format("unexpected '{}'", c));
      if (balance.back() != c) {
        return ErrorAt(pos_, fmt::format("unexpected '{}', expected '{}'", c, balance.back()));
      }
      balance.pop_back();
    }
    Token t = MakeToken(TokenType::kOperator, pos_);
    t.value = op;
    tokens_.push_back(std::move(t));
    pos_ += op.size();
    return Status();
  }

  std::string src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  mutable size_t cache_offset_ = 0;
  mutable int cache_line_ = 1;
  mutable int cache_column_ = 1;
};

}  // namespace

Result<std::vector<Token>> Tokenize(std::string_view source) { return Lexer(source).Run(); }

}  // namespace moe::jinja
