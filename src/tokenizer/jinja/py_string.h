// Python string semantics over UTF-8 bytes: code-point indexing, Unicode whitespace, strip /
// split / case mapping as Python's str methods do them, repr() of strings and floats.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moe::jinja {

// Decodes UTF-8 into code points. Invalid bytes decode to U+DC80..U+DCFF (Python's
// "surrogateescape"), so EncodeUtf8(DecodeUtf8(s)) == s for any byte string.
std::u32string DecodeUtf8(std::string_view s);
void AppendUtf8(char32_t c, std::string& out);
std::string EncodeUtf8(std::u32string_view s);

bool IsAscii(std::string_view s);
// len() of a Python str: number of code points.
size_t CodePointCount(std::string_view s);

// str.isspace() for one code point (the set str.strip() / str.split() use).
bool IsPyWhitespace(char32_t c);

// str.strip / lstrip / rstrip; `chars` nullopt strips Unicode whitespace.
std::string PyStrip(std::string_view s, bool left, bool right,
                    const std::optional<std::string>& chars);
// str.split(sep, maxsplit) / str.rsplit; sep nullopt splits on whitespace runs.
// Precondition: sep, when given, is not empty (the caller raises ValueError).
std::vector<std::string> PySplit(std::string_view s, const std::optional<std::string>& sep,
                                 int64_t maxsplit);
std::vector<std::string> PyRSplit(std::string_view s, const std::optional<std::string>& sep,
                                  int64_t maxsplit);
// str.replace(old, new, count); count < 0 replaces all.
std::string PyReplace(std::string_view s, std::string_view old, std::string_view repl,
                      int64_t count);
// str.splitlines(keepends=False).
std::vector<std::string> PySplitLines(std::string_view s);

// Case mapping of ASCII, Latin-1, Greek and Cyrillic letters (other scripts are unchanged).
char32_t ToUpper(char32_t c);
char32_t ToLower(char32_t c);
bool IsCased(char32_t c);
std::string PyUpper(std::string_view s);
std::string PyLower(std::string_view s);
std::string PyCapitalize(std::string_view s);  // str.capitalize()
std::string PyTitle(std::string_view s);       // str.title()

// repr() of a str: quotes chosen as Python does, escapes for control and non-printable
// characters.
std::string PyStrRepr(std::string_view s);
// repr() / str() of a float: shortest round-trip digits, exponent form when the decimal
// exponent is < -4 or >= 16 ('1e-07', '1e+16', '45.5', '2.0', 'inf', 'nan').
std::string PyFloatRepr(double d);

}  // namespace moe::jinja
