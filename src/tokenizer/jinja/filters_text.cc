// Jinja2's built-in string filters (jinja2/filters.py): trim, upper, replace, indent,
// truncate, title, escape, format, ... Values go through Python str() first (soft_str).
#include <fmt/format.h>

#include <algorithm>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/limits.h"
#include "tokenizer/jinja/py_string.h"

namespace moe::jinja {
namespace {

const Value kNone = Value::None();
const Value kFalse = Value::Bool(false);

Result<Value> Text(Interpreter& in, std::string s) {
  MOE_RETURN_IF_ERROR(in.ChargeString(s.size()));
  return Value::String(std::move(s));
}

Result<Value> FilterString(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("string", args, {}).status());
  if (v.is_string()) return v;
  return Text(in, v.Str());
}

Result<Value> FilterSafe(Interpreter& in, const Value& v, CallArgs& args) {
  return FilterString(in, v, args);  // no autoescaping: Markup and str print the same
}

Result<Value> FilterTrim(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("trim", args, {{"chars", kNone}}));
  std::optional<std::string> chars;
  if (!a[0].is_none()) chars = a[0].Str();
  return Value::String(PyStrip(v.Str(), true, true, chars));
}

Result<Value> FilterUpper(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("upper", args, {}).status());
  return Value::String(PyUpper(v.Str()));
}

Result<Value> FilterLower(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("lower", args, {}).status());
  return Value::String(PyLower(v.Str()));
}

Result<Value> FilterCapitalize(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("capitalize", args, {}).status());
  return Value::String(PyCapitalize(v.Str()));
}

// do_title: upper-cases the first character after each run of [-\s({\[<].
Result<Value> FilterTitle(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("title", args, {}).status());
  auto is_sep = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || IsPyWhitespace(c);
  };
  std::u32string cs = DecodeUtf8(v.Str());
  bool start = true;
  for (char32_t& c : cs) {
    if (is_sep(c)) {
      start = true;
      continue;
    }
    c = start ? ToUpper(c) : ToLower(c);
    start = false;
  }
  return Value::String(EncodeUtf8(cs));
}

Result<Value> FilterReplace(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("replace", args, {{"old", std::nullopt}, {"new", std::nullopt},
                                                          {"count", kNone}}));
  int64_t count = -1;
  if (a[2].is_int()) count = a[2].int_value();
  return Text(in, PyReplace(v.Str(), a[0].Str(), a[1].Str(), count));
}

Result<Value> FilterCenter(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("center", args, {{"width", Value::Int(80)}}));
  CallArgs sub{{a[0]}, {}};
  return CallMethod(in, Value::String(v.Str()), "center", sub);
}

Result<Value> FilterIndent(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("indent", args, {{"width", Value::Int(4)}, {"first", kFalse},
                                                         {"blank", kFalse}}));
  std::string indention;
  if (a[0].is_string()) {
    indention = a[0].str();
  } else if (a[0].is_int() || a[0].is_bool()) {
    indention = std::string(static_cast<size_t>(std::clamp<int64_t>(a[0].int_value(), 0, 4096)), ' ');
  } else {
    return Status::Error("TypeError: indent width must be an int or a str");
  }
  std::vector<std::string> lines = PySplitLines(v.Str() + "\n");
  std::string out;
  if (a[2].Truthy()) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) out += "\n" + indention;
      out += lines[i];
    }
  } else {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) {
        out += '\n';
        if (!lines[i].empty()) out += indention;
      }
      out += lines[i];
    }
  }
  if (a[1].Truthy()) out = indention + out;
  return Text(in, std::move(out));
}

Result<Value> FilterTruncate(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("truncate", args, {{"length", Value::Int(255)},
                                                           {"killwords", kFalse},
                                                           {"end", Value::String("...")},
                                                           {"leeway", kNone}}));
  if (!a[0].is_int()) return Status::Error("TypeError: truncate length must be an integer");
  const int64_t length = a[0].int_value();
  const int64_t leeway = a[3].is_int() ? a[3].int_value() : 5;  // policy truncate.leeway
  const std::u32string s = DecodeUtf8(v.Str());
  const std::u32string end = DecodeUtf8(a[2].Str());
  if (length < static_cast<int64_t>(end.size()) || leeway < 0) {
    return Status::Error("AssertionError: truncate length must be >= len(end), leeway >= 0");
  }
  if (static_cast<int64_t>(s.size()) <= length + leeway) return Value::String(v.Str());
  std::u32string head = s.substr(0, static_cast<size_t>(length) - end.size());
  if (!a[1].Truthy()) {
    const size_t sp = head.rfind(U' ');
    if (sp != std::u32string::npos) head.resize(sp);
  }
  return Text(in, EncodeUtf8(head + end));
}

Result<Value> FilterWordcount(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("wordcount", args, {}).status());
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : DecodeUtf8(v.Str())) {
    const bool word_char = c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                           (c >= 'A' && c <= 'Z') || (c >= 0xC0 && !IsPyWhitespace(c) &&
                                                      !(c >= 0x2000 && c <= 0x2BFF) &&
                                                      !(c >= 0x3000 && c <= 0x303F));
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value::Int(words);
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

Result<Value> FilterEscape(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("escape", args, {}).status());
  if (v.is_none()) return Value::String("None");
  return Text(in, HtmlEscape(v.Str()));
}

// Markup.striptags(): drop comments and tags, collapse whitespace, unescape entities.
Result<Value> FilterStriptags(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("striptags", args, {}).status());
  std::string s = v.Str();
  std::string stripped;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 4, "<!--") == 0) {
      const size_t e = s.find("-->", i + 4);
      if (e == std::string::npos) break;
      i = e + 3;
    } else if (s[i] == '<') {
      const size_t e = s.find('>', i + 1);
      if (e == std::string::npos) {
        stripped += s.substr(i);
        break;
      }
      i = e + 1;
    } else {
      stripped.push_back(s[i++]);
    }
  }
  std::string joined;
  for (const std::string& w : PySplit(stripped, std::nullopt, -1)) {
    if (!joined.empty()) joined += " ";
    joined += w;
  }
  static constexpr std::pair<std::string_view, std::string_view> kEntities[] = {
      {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&#34;", "\""}, {"&#39;", "'"},
      {"&quot;", "\""}, {"&apos;", "'"}, {"&nbsp;", "\xC2\xA0"}};
  for (const auto& [entity, ch] : kEntities) joined = PyReplace(joined, entity, ch, -1);
  return Text(in, std::move(joined));
}

Result<Value> FilterFormat(Interpreter& in, const Value& v, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    return Status::Error(
        "FilterArgumentError: can't handle positional and keyword arguments at the same time");
  }
  Value operand;
  if (!args.keyword.empty()) {
    operand = Value::MakeDict();
    for (const auto& [k, x] : args.keyword) operand.dict().SetStr(k, x);
  } else {
    operand = Value::MakeTuple(args.positional);
  }
  return BinaryOp(in, "%", Value::String(v.Str()), operand);
}

Result<Value> FilterPprint(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("pprint", args, {}).status());
  return Text(in, v.Repr());
}

std::string UrlQuote(const std::string& s, std::string_view safe) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("_.-~").find(static_cast<char>(c)) != std::string_view::npos ||
        safe.find(static_cast<char>(c)) != std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<Value> FilterUrlencode(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("urlencode", args, {}).status());
  if (v.is_string()) return Text(in, UrlQuote(v.str(), "/"));
  std::vector<std::pair<Value, Value>> pairs;
  if (v.is_dict()) {
    pairs = v.dict().items();
  } else {
    MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    for (const Value& p : items) {
      if (!p.is_list() || p.list().items.size() != 2) return Text(in, UrlQuote(v.Str(), "/"));
      pairs.emplace_back(p.list().items[0], p.list().items[1]);
    }
  }
  std::string out;
  for (const auto& [k, x] : pairs) {
    if (!out.empty()) out += "&";
    // url_quote(for_qs=True): spaces become '+'.
    out += PyReplace(UrlQuote(k.Str(), ""), "%20", "+", -1);
    out += '=';
    out += PyReplace(UrlQuote(x.Str(), ""), "%20", "+", -1);
  }
  return Text(in, std::move(out));
}

Result<Value> FilterFilesizeformat(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("filesizeformat", args, {{"binary", kFalse}}));
  double bytes = 0;
  if (v.is_number()) {
    bytes = v.AsDouble();
  } else if (v.is_string()) {
    bytes = std::strtod(v.str().c_str(), nullptr);
  } else {
    return Status::Error("TypeError: filesizeformat expects a number");
  }
  const bool binary = a[0].Truthy();
  const double base = binary ? 1024 : 1000;
  static constexpr const char* kDecimal[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  static constexpr const char* kBinary[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  if (bytes == 1) return Value::String("1 Byte");
  if (bytes < base) return Text(in, fmt::format("{} Bytes", static_cast<int64_t>(bytes)));
  std::string out;
  for (int i = 0; i < 8; ++i) {
    const double unit = std::pow(base, i + 2);
    if (bytes < unit || i == 7) {
      out = fmt::format("{:.1f} {}", base * bytes / unit, binary ? kBinary[i] : kDecimal[i]);
      break;
    }
  }
  return Text(in, std::move(out));
}

// textwrap.wrap(width, break_long_words, break_on_hyphens=False approximation) per line.
Result<Value> FilterWordwrap(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("wordwrap", args, {{"width", Value::Int(79)},
                                                           {"break_long_words", Value::Bool(true)},
                                                           {"wrapstring", kNone},
                                                           {"break_on_hyphens", Value::Bool(true)}}));
  if (!a[0].is_int() || a[0].int_value() <= 0) return Status::Error("ValueError: invalid width");
  const auto width = static_cast<size_t>(a[0].int_value());
  const std::string wrap = a[2].is_none() ? "\n" : a[2].Str();
  std::string out;
  bool first_line = true;
  for (const std::string& line : PySplitLines(v.Str())) {
    if (!first_line) out += wrap;
    first_line = false;
    std::vector<std::string> lines;
    std::u32string cur;
    for (const std::string& word : PySplit(line, std::nullopt, -1)) {
      std::u32string w = DecodeUtf8(word);
      while (a[1].Truthy() && w.size() > width) {
        if (!cur.empty()) {
          lines.push_back(EncodeUtf8(cur));
          cur.clear();
        }
        lines.push_back(EncodeUtf8(w.substr(0, width)));
        w = w.substr(width);
      }
      if (cur.empty()) {
        cur = w;
      } else if (cur.size() + 1 + w.size() <= width) {
        cur += U' ';
        cur += w;
      } else {
        lines.push_back(EncodeUtf8(cur));
        cur = w;
      }
    }
    if (!cur.empty()) lines.push_back(EncodeUtf8(cur));
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) out += wrap;
      out += lines[i];
    }
  }
  return Text(in, std::move(out));
}

}  // namespace

const std::unordered_map<std::string_view, FilterFn>& TextFilters() {
  static const auto* table = new std::unordered_map<std::string_view, FilterFn>{
      {"capitalize", FilterCapitalize},
      {"center", FilterCenter},
      {"e", FilterEscape},
      {"escape", FilterEscape},
      {"filesizeformat", FilterFilesizeformat},
      {"forceescape", FilterEscape},
      {"format", FilterFormat},
      {"indent", FilterIndent},
      {"lower", FilterLower},
      {"pprint", FilterPprint},
      {"replace", FilterReplace},
      {"safe", FilterSafe},
      {"string", FilterString},
      {"striptags", FilterStriptags},
      {"title", FilterTitle},
      {"trim", FilterTrim},
      {"truncate", FilterTruncate},
      {"upper", FilterUpper},
      {"urlencode", FilterUrlencode},
      {"wordcount", FilterWordcount},
      {"wordwrap", FilterWordwrap},
  };
  return *table;
}

}  // namespace moe::jinja
