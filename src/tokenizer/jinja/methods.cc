// Python methods of str, list and dict values ("a,b".split(","), msgs.append(x),
// d.get(k, default), d.items(), ...). List and dict mutators are allowed: this is the
// `list_mutation` alternative of the conformance kit (Jinja2's ImmutableSandboxedEnvironment
// would refuse them), which keeps the Kimi K2 tool-call templates working.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/limits.h"
#include "tokenizer/jinja/py_string.h"

namespace moe::jinja {
namespace {

constexpr std::array kStrMethods = {
    "strip",      "lstrip",     "rstrip",    "split",     "rsplit",       "splitlines",
    "startswith", "endswith",   "upper",     "lower",     "title",        "capitalize",
    "swapcase",   "casefold",   "replace",   "find",      "rfind",        "index",
    "rindex",     "count",      "join",      "center",    "ljust",        "rjust",
    "zfill",      "isdigit",    "isalpha",   "isalnum",   "isspace",      "isupper",
    "islower",    "isnumeric",  "isdecimal", "partition", "rpartition",   "format",
    "removeprefix", "removesuffix"};
constexpr std::array kListMethods = {"append", "extend", "insert", "pop",  "remove", "index",
                                     "count",  "reverse", "sort",  "clear", "copy"};
constexpr std::array kDictMethods = {"get", "items",      "keys",   "values", "pop",
                                     "popitem", "setdefault", "update", "clear", "copy"};

template <size_t N>
bool InTable(const std::array<const char*, N>& table, const std::string& name) {
  return std::any_of(table.begin(), table.end(), [&](const char* m) { return name == m; });
}

Result<std::optional<std::string>> OptString(const Value& v, std::string_view what) {
  if (v.is_none()) return std::optional<std::string>();
  if (!v.is_string()) {
    return Status::Errorf("TypeError: {} must be str or None, not {}", what, v.TypeName());
  }
  return std::optional<std::string>(v.str());
}

Result<int64_t> IntArg(const Value& v, std::string_view what) {
  if (!v.is_int() && !v.is_bool()) {
    return Status::Errorf("TypeError: {} must be an integer, not {}", what, v.TypeName());
  }
  return v.int_value();
}

Value StringList(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(Value::String(std::move(p)));
  return Value::MakeList(std::move(items));
}

// Pads `s` to `width` code points; align is '<', '>' or '^'. For '^', CPython's str.center
// puts marg / 2 + (marg & width & 1) fill characters on the left.
Result<Value> Pad(Interpreter& in, const std::string& s, int64_t width, const std::string& fill,
                  char align) {
  if (CodePointCount(fill) != 1) {
    return Status::Error("TypeError: The fill character must be exactly one character long");
  }
  const auto len = static_cast<int64_t>(CodePointCount(s));
  if (width <= len) return Value::String(s);
  const auto total = static_cast<size_t>(width - len);
  MOE_RETURN_IF_ERROR(in.ChargeString(total * fill.size() + s.size()));
  size_t left = 0;
  if (align == '>') left = total;
  if (align == '^') left = total / 2 + (total & static_cast<size_t>(width) & 1);
  std::string out;
  for (size_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (size_t i = left; i < total; ++i) out += fill;
  return Value::String(std::move(out));
}

bool AllCodePoints(const std::string& s, bool (*pred)(char32_t)) {
  const std::u32string cs = DecodeUtf8(s);
  return !cs.empty() && std::all_of(cs.begin(), cs.end(), pred);
}

bool IsDigitCp(char32_t c) { return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19); }
bool IsAlphaCp(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return !IsPyWhitespace(c) && !(c >= 0x2000 && c <= 0x2BFF) && !(c >= 0x3000 && c <= 0x303F) &&
         !(c >= 0xFF00 && c <= 0xFF20) && c != 0xD7 && c != 0xF7 && !(c >= 0x80 && c <= 0xBF);
}
bool IsAlnumCp(char32_t c) { return IsDigitCp(c) || IsAlphaCp(c); }

// str.format with positional ({} / {0}) and keyword ({name}) fields and format specs.
Result<Value> StrFormat(Interpreter& in, const std::string& f, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if (c == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') ++i;
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = f.find('}', i);
    if (close == std::string::npos) return Status::Error("ValueError: unmatched '{' in format");
    std::string field = f.substr(i + 1, close - i - 1);
    std::string spec;
    if (const size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    Value v;
    if (field.empty()) {
      if (auto_index >= args.positional.size()) {
        return Status::Error("IndexError: Replacement index out of range for positional args");
      }
      v = args.positional[auto_index++];
    } else if (field.find_first_not_of("0123456789") == std::string::npos) {
      const size_t idx = std::stoul(field);
      if (idx >= args.positional.size()) {
        return Status::Error("IndexError: Replacement index out of range for positional args");
      }
      v = args.positional[idx];
    } else {
      auto it = std::find_if(args.keyword.begin(), args.keyword.end(),
                             [&](const auto& kv) { return kv.first == field; });
      if (it == args.keyword.end()) return Status::Errorf("KeyError: '{}'", field);
      v = it->second;
    }
    if (spec.empty()) {
      out += v.Str();
    } else {
      try {  // fmt reports a bad spec by throwing; keep it inside this function
        if (v.is_int()) {
          out += fmt::format(fmt::runtime("{:" + spec + "}"), v.int_value());
        } else if (v.is_float()) {
          out += fmt::format(fmt::runtime("{:" + spec + "}"), v.float_value());
        } else {
          out += fmt::format(fmt::runtime("{:" + spec + "}"), v.Str());
        }
      } catch (const fmt::format_error&) {
        return Status::Errorf("ValueError: invalid format spec '{}'", spec);
      }
    }
    i = close;
  }
  MOE_RETURN_IF_ERROR(in.ChargeString(out.size()));
  return Value::String(std::move(out));
}

Result<Value> StrMethod(Interpreter& in, const std::string& s, const std::string& name,
                        CallArgs& args) {
  const Value none = Value::None();
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"chars", none}}));
    MOE_ASSIGN_OR_RETURN(auto chars, OptString(a[0], "chars"));
    return Value::String(PyStrip(s, name != "rstrip", name != "lstrip", chars));
  }
  if (name == "split" || name == "rsplit") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"sep", none}, {"maxsplit", Value::Int(-1)}}));
    MOE_ASSIGN_OR_RETURN(auto sep, OptString(a[0], "sep"));
    MOE_ASSIGN_OR_RETURN(int64_t maxsplit, IntArg(a[1], "maxsplit"));
    if (sep && sep->empty()) return Status::Error("ValueError: empty separator");
    auto parts = name == "split" ? PySplit(s, sep, maxsplit) : PyRSplit(s, sep, maxsplit);
    MOE_RETURN_IF_ERROR(in.ChargeItems(parts.size()));
    return StringList(std::move(parts));
  }
  if (name == "splitlines") return StringList(PySplitLines(s));
  if (name == "startswith" || name == "endswith") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"prefix", std::nullopt}}));
    std::vector<Value> options = a[0].is_list() ? a[0].list().items : std::vector<Value>{a[0]};
    for (const Value& o : options) {
      if (!o.is_string()) {
        return Status::Errorf("TypeError: {} first arg must be str or a tuple of str, not {}",
                              name, o.TypeName());
      }
      if (name == "startswith" ? s.starts_with(o.str()) : s.ends_with(o.str())) {
        return Value::Bool(true);
      }
    }
    return Value::Bool(false);
  }
  if (name == "upper") return Value::String(PyUpper(s));
  if (name == "lower" || name == "casefold") return Value::String(PyLower(s));
  if (name == "title") return Value::String(PyTitle(s));
  if (name == "capitalize") return Value::String(PyCapitalize(s));
  if (name == "swapcase") {
    std::string out;
    for (char32_t c : DecodeUtf8(s)) AppendUtf8(ToUpper(c) != c ? ToUpper(c) : ToLower(c), out);
    return Value::String(std::move(out));
  }
  if (name == "replace") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"old", std::nullopt}, {"new", std::nullopt},
                                                       {"count", Value::Int(-1)}}));
    if (!a[0].is_string() || !a[1].is_string()) {
      return Status::Error("TypeError: replace() arguments must be str");
    }
    MOE_ASSIGN_OR_RETURN(int64_t count, IntArg(a[2], "count"));
    std::string out = PyReplace(s, a[0].str(), a[1].str(), count);
    MOE_RETURN_IF_ERROR(in.ChargeString(out.size()));
    return Value::String(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" ||
      name == "count") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"sub", std::nullopt}}));
    if (!a[0].is_string()) return Status::Errorf("TypeError: must be str, not {}", a[0].TypeName());
    const std::string& sub = a[0].str();
    if (name == "count") {
      if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(s)) + 1);
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      return Value::Int(n);
    }
    const size_t p = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
    if (p == std::string::npos) {
      if (name == "index" || name == "rindex") return Status::Error("ValueError: substring not found");
      return Value::Int(-1);
    }
    return Value::Int(static_cast<int64_t>(CodePointCount(std::string_view(s).substr(0, p))));
  }
  if (name == "join") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"iterable", std::nullopt}}));
    MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(a[0]));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        return Status::Errorf("TypeError: sequence item {}: expected str instance, {} found", i,
                              items[i].TypeName());
      }
      if (i) out += s;
      out += items[i].str();
      MOE_RETURN_IF_ERROR(in.ChargeString(out.size()));
    }
    return Value::String(std::move(out));
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"width", std::nullopt},
                                                       {"fillchar", Value::String(" ")}}));
    MOE_ASSIGN_OR_RETURN(int64_t width, IntArg(a[0], "width"));
    if (!a[1].is_string()) return Status::Error("TypeError: fill character must be str");
    return Pad(in, s, width, a[1].str(), name == "center" ? '^' : (name == "ljust" ? '<' : '>'));
  }
  if (name == "zfill") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"width", std::nullopt}}));
    MOE_ASSIGN_OR_RETURN(int64_t width, IntArg(a[0], "width"));
    const auto len = static_cast<int64_t>(CodePointCount(s));
    if (width <= len) return Value::String(s);
    MOE_RETURN_IF_ERROR(in.ChargeString(static_cast<size_t>(width)));
    const bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
    std::string out = sign ? s.substr(0, 1) : "";
    out += std::string(static_cast<size_t>(width - len), '0');
    out += sign ? s.substr(1) : s;
    return Value::String(std::move(out));
  }
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
    return Value::Bool(AllCodePoints(s, IsDigitCp));
  }
  if (name == "isalpha") return Value::Bool(AllCodePoints(s, IsAlphaCp));
  if (name == "isalnum") return Value::Bool(AllCodePoints(s, IsAlnumCp));
  if (name == "isspace") return Value::Bool(AllCodePoints(s, IsPyWhitespace));
  if (name == "isupper" || name == "islower") {
    bool cased = false;
    for (char32_t c : DecodeUtf8(s)) {
      if (!IsCased(c)) continue;
      cased = true;
      if (name == "isupper" ? ToUpper(c) != c : ToLower(c) != c) return Value::Bool(false);
    }
    return Value::Bool(cased);
  }
  if (name == "partition" || name == "rpartition") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"sep", std::nullopt}}));
    if (!a[0].is_string() || a[0].str().empty()) {
      return Status::Error("ValueError: partition() needs a non-empty str separator");
    }
    const std::string& sep = a[0].str();
    const size_t p = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (p == std::string::npos) {
      return name == "partition"
                 ? Value::MakeTuple({Value::String(s), Value::String(""), Value::String("")})
                 : Value::MakeTuple({Value::String(""), Value::String(""), Value::String(s)});
    }
    return Value::MakeTuple({Value::String(s.substr(0, p)), Value::String(sep),
                             Value::String(s.substr(p + sep.size()))});
  }
  if (name == "format") return StrFormat(in, s, args);
  if (name == "removeprefix" || name == "removesuffix") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"affix", std::nullopt}}));
    if (!a[0].is_string()) return Status::Error("TypeError: argument must be str");
    const std::string& x = a[0].str();
    if (name == "removeprefix" && s.starts_with(x)) return Value::String(s.substr(x.size()));
    if (name == "removesuffix" && !x.empty() && s.ends_with(x)) {
      return Value::String(s.substr(0, s.size() - x.size()));
    }
    return Value::String(s);
  }
  return Status::Errorf("AttributeError: 'str' object has no attribute '{}'", name);
}

Result<Value> ListMethod(Interpreter& in, const Value& obj, const std::string& name,
                         CallArgs& args) {
  List& list = obj.list();
  auto& items = list.items;
  const bool tuple = list.is_tuple;
  auto mutating = [&]() -> Status {
    if (tuple) return Status::Errorf("AttributeError: 'tuple' object has no attribute '{}'", name);
    for (const Value& a : args.positional) {  // extend() copies items: check those
      const bool items = name == "extend" && a.is_list();
      for (const Value& x : items ? a.list().items : std::vector<Value>{a}) {
        if (Reaches(x, &list)) return Status::Error("ValueError: refusing to create a reference cycle");
      }
    }
    return Status();
  };
  if (name == "append") {
    MOE_RETURN_IF_ERROR(mutating());
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"object", std::nullopt}}));
    MOE_RETURN_IF_ERROR(in.ChargeItems(1));
    if (items.size() >= kMaxListItems) return Status::Error("list grew past the item limit");
    items.push_back(std::move(a[0]));
    return Value::None();
  }
  if (name == "extend") {
    MOE_RETURN_IF_ERROR(mutating());
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"iterable", std::nullopt}}));
    MOE_ASSIGN_OR_RETURN(std::vector<Value> more, Iterate(a[0]));
    MOE_RETURN_IF_ERROR(in.ChargeItems(items.size() + more.size()));
    items.insert(items.end(), more.begin(), more.end());
    return Value::None();
  }
  if (name == "insert") {
    MOE_RETURN_IF_ERROR(mutating());
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"index", std::nullopt}, {"object", std::nullopt}}));
    MOE_ASSIGN_OR_RETURN(int64_t i, IntArg(a[0], "index"));
    MOE_RETURN_IF_ERROR(in.ChargeItems(items.size() + 1));
    const auto n = static_cast<int64_t>(items.size());
    if (i < 0) i = std::max<int64_t>(0, i + n);
    i = std::min(i, n);
    items.insert(items.begin() + i, std::move(a[1]));
    return Value::None();
  }
  if (name == "pop") {
    MOE_RETURN_IF_ERROR(mutating());
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"index", Value::Int(-1)}}));
    MOE_ASSIGN_OR_RETURN(int64_t i, IntArg(a[0], "index"));
    const auto n = static_cast<int64_t>(items.size());
    if (n == 0) return Status::Error("IndexError: pop from empty list");
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Status::Error("IndexError: pop index out of range");
    Value v = items[static_cast<size_t>(i)];
    items.erase(items.begin() + i);
    return v;
  }
  if (name == "remove") {
    MOE_RETURN_IF_ERROR(mutating());
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"value", std::nullopt}}));
    for (size_t i = 0; i < items.size(); ++i) {
      if (Equals(items[i], a[0])) {
        items.erase(items.begin() + static_cast<std::ptrdiff_t>(i));
        return Value::None();
      }
    }
    return Status::Error("ValueError: list.remove(x): x not in list");
  }
  if (name == "index" || name == "count") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"value", std::nullopt}}));
    int64_t count = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!Equals(items[i], a[0])) continue;
      if (name == "index") return Value::Int(static_cast<int64_t>(i));
      ++count;
    }
    if (name == "index") return Status::Error("ValueError: value is not in list");
    return Value::Int(count);
  }
  if (name == "reverse") {
    MOE_RETURN_IF_ERROR(mutating());
    std::reverse(items.begin(), items.end());
    return Value::None();
  }
  if (name == "sort") {
    MOE_RETURN_IF_ERROR(mutating());
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"reverse", Value::Bool(false)}}));
    Status st;
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      auto c = Compare(x, y);
      if (!c.ok()) st = c.status();
      return c.ok() && *c < 0;
    });
    MOE_RETURN_IF_ERROR(st);
    if (a[0].Truthy()) std::reverse(items.begin(), items.end());
    return Value::None();
  }
  if (name == "clear") {
    MOE_RETURN_IF_ERROR(mutating());
    items.clear();
    return Value::None();
  }
  if (name == "copy") {
    MOE_RETURN_IF_ERROR(in.ChargeItems(items.size()));
    return tuple ? Value::MakeTuple(items) : Value::MakeList(items);
  }
  return Status::Errorf("AttributeError: 'list' object has no attribute '{}'", name);
}

Result<Value> DictMethod(Interpreter& in, const Value& obj, const std::string& name,
                         CallArgs& args) {
  Dict& d = obj.dict();
  if (name == "setdefault" || name == "update") {
    for (const Value& a : args.positional) {
      if (Reaches(a, &d)) return Status::Error("ValueError: refusing to create a reference cycle");
    }
    for (const auto& kv : args.keyword) {
      if (Reaches(kv.second, &d)) return Status::Error("ValueError: refusing to create a reference cycle");
    }
  }
  if (name == "get") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"key", std::nullopt}, {"default", Value::None()}}));
    MOE_ASSIGN_OR_RETURN(std::string hk, a[0].HashKey());
    (void)hk;
    const Value* v = d.Find(a[0]);
    return v ? *v : a[1];
  }
  if (name == "items" || name == "keys" || name == "values") {
    MOE_RETURN_IF_ERROR(in.ChargeItems(d.size()));
    std::vector<Value> out;
    out.reserve(d.size());
    for (const auto& [k, v] : d.items()) {
      if (name == "items") {
        out.push_back(Value::MakeTuple({k, v}));
      } else {
        out.push_back(name == "keys" ? k : v);
      }
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "pop") {
    if (args.positional.empty() || args.positional.size() > 2) {
      return Status::Error("TypeError: pop expected 1 or 2 arguments");
    }
    const Value* v = d.Find(args.positional[0]);
    if (v == nullptr) {
      if (args.positional.size() == 2) return args.positional[1];
      return Status::Errorf("KeyError: {}", args.positional[0].Repr());
    }
    Value out = *v;
    d.Erase(args.positional[0]);
    return out;
  }
  if (name == "popitem") {
    if (d.size() == 0) return Status::Error("KeyError: 'popitem(): dictionary is empty'");
    auto last = d.items().back();
    d.Erase(last.first);
    return Value::MakeTuple({last.first, last.second});
  }
  if (name == "setdefault") {
    MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"key", std::nullopt}, {"default", Value::None()}}));
    if (const Value* v = d.Find(a[0])) return *v;
    MOE_RETURN_IF_ERROR(in.ChargeItems(1));
    MOE_RETURN_IF_ERROR(d.Set(a[0], a[1]));
    return a[1];
  }
  if (name == "update") {
    if (args.positional.size() > 1) return Status::Error("TypeError: update expected at most 1 argument");
    if (!args.positional.empty()) {
      const Value& other = args.positional[0];
      if (other.is_dict()) {
        MOE_RETURN_IF_ERROR(in.ChargeItems(other.dict().size()));
        for (const auto& [k, v] : other.dict().items()) MOE_RETURN_IF_ERROR(d.Set(k, v));
      } else {
        MOE_ASSIGN_OR_RETURN(std::vector<Value> pairs, Iterate(other));
        MOE_RETURN_IF_ERROR(in.ChargeItems(pairs.size()));
        for (const Value& p : pairs) {
          if (!p.is_list() || p.list().items.size() != 2) {
            return Status::Error("ValueError: dictionary update sequence element has wrong length");
          }
          MOE_RETURN_IF_ERROR(d.Set(p.list().items[0], p.list().items[1]));
        }
      }
    }
    for (const auto& [k, v] : args.keyword) d.SetStr(k, v);
    return Value::None();
  }
  if (name == "clear") {
    d.Clear();
    return Value::None();
  }
  if (name == "copy") {
    MOE_RETURN_IF_ERROR(in.ChargeItems(d.size()));
    Value out = Value::MakeDict();
    for (const auto& [k, v] : d.items()) MOE_RETURN_IF_ERROR(out.dict().Set(k, v));
    return out;
  }
  return Status::Errorf("AttributeError: 'dict' object has no attribute '{}'", name);
}

}  // namespace

bool HasMethod(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::kString: return InTable(kStrMethods, name);
    case Value::Type::kList: return InTable(kListMethods, name);
    case Value::Type::kDict: return InTable(kDictMethods, name);
    default: return false;
  }
}

Result<Value> CallMethod(Interpreter& in, const Value& obj, const std::string& name,
                         CallArgs& args) {
  switch (obj.type()) {
    case Value::Type::kString: return StrMethod(in, obj.str(), name, args);
    case Value::Type::kList: return ListMethod(in, obj, name, args);
    case Value::Type::kDict: return DictMethod(in, obj, name, args);
    default:
      return Status::Errorf("AttributeError: '{}' object has no attribute '{}'", obj.TypeName(),
                            name);
  }
}

Value BoundMethod(const Value& obj, const std::string& name) {
  return Value::MakeCallable(obj.TypeName() + "." + name,
                             [obj, name](Interpreter& in, CallArgs& args) {
                               return CallMethod(in, obj, name, args);
                             });
}

}  // namespace moe::jinja
