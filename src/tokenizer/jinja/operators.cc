// Python operators (+ - * / // % ** ~, comparisons, `in`) and Jinja's attribute / item /
// slice access over the value model. Undefined values follow jinja2.Undefined: printing and
// iterating them is fine, arithmetic and attribute access on them fail.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/limits.h"
#include "tokenizer/jinja/py_string.h"

namespace moe::jinja {
namespace {

Status UndefinedError(const Value& v) {
  return Status::Errorf("UndefinedError: {}", v.str().empty() ? "undefined value" : v.str());
}

Status Unsupported(std::string_view op, const Value& a, const Value& b) {
  return Status::Errorf("TypeError: unsupported operand type(s) for {}: '{}' and '{}'", op,
                        a.TypeName(), b.TypeName());
}

bool IsIntLike(const Value& v) { return v.is_int() || v.is_bool(); }

Result<Value> Repeat(Interpreter& in, const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? Value::String("") : (seq.list().is_tuple ? Value::MakeTuple({}) : Value::MakeList());
  if (seq.is_string()) {
    const size_t total = seq.str().size() * static_cast<size_t>(n);
    if (!seq.str().empty() && total / seq.str().size() != static_cast<size_t>(n)) {
      return Status::Error("string repetition overflows");
    }
    MOE_RETURN_IF_ERROR(in.ChargeString(total));
    std::string out;
    out.reserve(total);
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return Value::String(std::move(out));
  }
  const auto& items = seq.list().items;
  const size_t total = items.size() * static_cast<size_t>(n);
  if (!items.empty() && total / items.size() != static_cast<size_t>(n)) {
    return Status::Error("list repetition overflows");
  }
  MOE_RETURN_IF_ERROR(in.ChargeItems(total));
  std::vector<Value> out;
  out.reserve(total);
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.list().is_tuple ? Value::MakeTuple(std::move(out)) : Value::MakeList(std::move(out));
}

// Python printf-style formatting: "%s and %d" % (a, b).
Result<Value> PercentFormat(Interpreter& in, const std::string& fmt_str, const Value& args) {
  std::vector<Value> positional;
  if (args.is_list() && args.list().is_tuple) {
    positional = args.list().items;
  } else {
    positional.push_back(args);
  }
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt_str.size(); ++i) {
    if (fmt_str[i] != '%') {
      out.push_back(fmt_str[i]);
      continue;
    }
    if (++i >= fmt_str.size()) return Status::Error("ValueError: incomplete format");
    Value arg;
    if (fmt_str[i] == '(') {
      const size_t close = fmt_str.find(')', i);
      if (close == std::string::npos) return Status::Error("ValueError: incomplete format key");
      if (!args.is_dict()) return Status::Error("TypeError: format requires a mapping");
      const Value* v = args.dict().FindStr(fmt_str.substr(i + 1, close - i - 1));
      if (v == nullptr) return Status::Error("KeyError: format key not found");
      arg = *v;
      i = close + 1;
    }
    std::string spec;
    while (i < fmt_str.size() && std::string_view("-+ #0123456789.").find(fmt_str[i]) !=
                                     std::string_view::npos) {
      spec.push_back(fmt_str[i++]);
    }
    if (i >= fmt_str.size()) return Status::Error("ValueError: incomplete format");
    const char conv = fmt_str[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (arg.is_undefined() && !args.is_dict()) {
      if (next >= positional.size()) {
        return Status::Error("TypeError: not enough arguments for format string");
      }
      arg = positional[next++];
    }
    std::string piece;
    switch (conv) {
      case 's': piece = arg.Str(); break;
      case 'r':
      case 'a': piece = arg.Repr(); break;
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o': {
        if (!arg.is_number()) {
          return Status::Errorf("TypeError: %{} format: a number is required, not {}", conv,
                                arg.TypeName());
        }
        const int64_t v = arg.is_float() ? static_cast<int64_t>(arg.float_value()) : arg.int_value();
        const char* f = conv == 'x' ? "{:x}" : (conv == 'X' ? "{:X}" : (conv == 'o' ? "{:o}" : "{}"));
        piece = fmt::format(fmt::runtime(f), v);
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!arg.is_number()) {
          return Status::Errorf("TypeError: must be real number, not {}", arg.TypeName());
        }
        const size_t dot = spec.find('.');
        const int prec = dot == std::string::npos ? 6 : std::atoi(spec.c_str() + dot + 1);
        piece = fmt::format(fmt::runtime(fmt::format("{{:.{}{}}}", prec, conv)), arg.AsDouble());
        break;
      }
      case 'c':
        if (arg.is_string()) {
          piece = arg.str();
        } else if (IsIntLike(arg) && arg.int_value() >= 0 && arg.int_value() <= 0x10FFFF) {
          AppendUtf8(static_cast<char32_t>(arg.int_value()), piece);
        } else {
          return Status::Error("TypeError: %c requires an int or a char");
        }
        break;
      default: return Status::Errorf("ValueError: unsupported format character '{}'", conv);
    }
    // Width (and '-' for left alignment) from the spec.
    const size_t dot = spec.find('.');
    std::string width_part = spec.substr(0, dot);
    const bool left = width_part.find('-') != std::string::npos;
    const bool zero = !left && width_part.find('0') == 0;
    while (!width_part.empty() && !std::isdigit(static_cast<unsigned char>(width_part[0]))) {
      width_part.erase(0, 1);
    }
    const size_t width = width_part.empty() ? 0 : static_cast<size_t>(std::atoi(width_part.c_str()));
    const size_t len = CodePointCount(piece);
    if (width > len && width < kMaxOutputBytes) {
      const std::string pad(width - len, zero ? '0' : ' ');
      piece = left ? piece + pad : pad + piece;
    }
    out += piece;
  }
  if (!args.is_dict() && next < positional.size()) {
    return Status::Error("TypeError: not all arguments converted during string formatting");
  }
  MOE_RETURN_IF_ERROR(in.ChargeString(out.size()));
  return Value::String(std::move(out));
}

Result<Value> IntArith(std::string_view op, int64_t x, int64_t y) {
  int64_t r = 0;
  if (op == "+") {
    if (__builtin_add_overflow(x, y, &r)) return Status::Error("OverflowError: integer overflow");
    return Value::Int(r);
  }
  if (op == "-") {
    if (__builtin_sub_overflow(x, y, &r)) return Status::Error("OverflowError: integer overflow");
    return Value::Int(r);
  }
  if (op == "*") {
    if (__builtin_mul_overflow(x, y, &r)) return Status::Error("OverflowError: integer overflow");
    return Value::Int(r);
  }
  if (op == "/") {
    if (y == 0) return Status::Error("ZeroDivisionError: division by zero");
    return Value::Float(static_cast<double>(x) / static_cast<double>(y));
  }
  if (op == "//" || op == "%") {
    if (y == 0) return Status::Error("ZeroDivisionError: integer division or modulo by zero");
    if (x == std::numeric_limits<int64_t>::min() && y == -1) {
      return op == "%" ? Value::Int(0) : Result<Value>(Status::Error("OverflowError: integer overflow"));
    }
    int64_t q = x / y, m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors toward negative infinity
      --q;
      m += y;
    }
    return Value::Int(op == "//" ? q : m);
  }
  if (op == "**") {
    if (y < 0) return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
    int64_t result = 1, base = x;
    for (int64_t e = y; e > 0; e >>= 1) {
      if (e & 1) {
        if (__builtin_mul_overflow(result, base, &result)) {
          return Status::Error("OverflowError: integer overflow");
        }
      }
      if (e > 1 && __builtin_mul_overflow(base, base, &base)) {
        return Status::Error("OverflowError: integer overflow");
      }
    }
    return Value::Int(result);
  }
  return Status::Errorf("unknown operator '{}'", op);
}

Result<Value> FloatArith(std::string_view op, double x, double y) {
  if (op == "+") return Value::Float(x + y);
  if (op == "-") return Value::Float(x - y);
  if (op == "*") return Value::Float(x * y);
  if ((op == "/" || op == "//" || op == "%") && y == 0) {
    return Status::Error("ZeroDivisionError: float division by zero");
  }
  if (op == "/") return Value::Float(x / y);
  if (op == "//") return Value::Float(std::floor(x / y));
  if (op == "%") {
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::Float(m);
  }
  if (op == "**") return Value::Float(std::pow(x, y));
  return Status::Errorf("unknown operator '{}'", op);
}

}  // namespace

Result<Value> BinaryOp(Interpreter& in, std::string_view op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string s = a.Str();
    s += b.Str();
    MOE_RETURN_IF_ERROR(in.ChargeString(s.size()));
    return Value::String(std::move(s));
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return FloatArith(op, a.AsDouble(), b.AsDouble());
    return IntArith(op, a.int_value(), b.int_value());
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      MOE_RETURN_IF_ERROR(in.ChargeString(a.str().size() + b.str().size()));
      std::string s;
      s.reserve(a.str().size() + b.str().size());
      s += a.str();
      s += b.str();
      return Value::String(std::move(s));
    }
    if (a.is_list() && b.is_list() && a.list().is_tuple == b.list().is_tuple) {
      MOE_RETURN_IF_ERROR(in.ChargeItems(a.list().items.size() + b.list().items.size()));
      std::vector<Value> items = a.list().items;
      items.insert(items.end(), b.list().items.begin(), b.list().items.end());
      return a.list().is_tuple ? Value::MakeTuple(std::move(items)) : Value::MakeList(std::move(items));
    }
    if (a.is_string()) {
      return Status::Errorf("TypeError: can only concatenate str (not \"{}\") to str", b.TypeName());
    }
    return Unsupported(op, a, b);
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && IsIntLike(b)) return Repeat(in, a, b.int_value());
    if (IsIntLike(a) && (b.is_string() || b.is_list())) return Repeat(in, b, a.int_value());
    return Unsupported(op, a, b);
  }
  if (op == "%" && a.is_string()) return PercentFormat(in, a.str(), b);
  return Unsupported(op, a, b);
}

Result<bool> Contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kString:
      if (!item.is_string()) {
        return Status::Errorf("TypeError: 'in <string>' requires string as left operand, not {}",
                              item.TypeName());
      }
      return container.str().find(item.str()) != std::string::npos;
    case Value::Type::kList:
      for (const Value& v : container.list().items) {
        if (Equals(v, item)) return true;
      }
      return false;
    case Value::Type::kDict: {
      MOE_ASSIGN_OR_RETURN(std::string key, item.HashKey());
      (void)key;
      return container.dict().Find(item) != nullptr;
    }
    case Value::Type::kUndefined: return false;
    default:
      return Status::Errorf("TypeError: argument of type '{}' is not iterable",
                            container.TypeName());
  }
}

Result<bool> CompareOp(std::string_view op, const Value& a, const Value& b) {
  if (op == "==") return Equals(a, b);
  if (op == "!=") return !Equals(a, b);
  if (op == "in") return Contains(b, a);
  if (op == "notin") {
    MOE_ASSIGN_OR_RETURN(bool in, Contains(b, a));
    return !in;
  }
  MOE_ASSIGN_OR_RETURN(int c, Compare(a, b));
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  return Status::Errorf("unknown comparison '{}'", op);
}

Result<Value> GetAttr(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::kUndefined: return UndefinedError(obj);
    case Value::Type::kDict: {
      if (HasMethod(obj, name)) return BoundMethod(obj, name);
      if (const Value* v = obj.dict().FindStr(name)) return *v;
      break;
    }
    case Value::Type::kObject:
      if (const Value* v = obj.object().attrs.FindStr(name)) return *v;
      break;
    case Value::Type::kString:
    case Value::Type::kList:
      if (HasMethod(obj, name)) return BoundMethod(obj, name);
      break;
    default: break;
  }
  return Value::Undefined(fmt::format("'{} object' has no attribute '{}'", obj.TypeName(), name));
}

Result<Value> GetItem(const Value& obj, const Value& key) {
  switch (obj.type()) {
    case Value::Type::kUndefined: return UndefinedError(obj);
    case Value::Type::kDict:
      if (const Value* v = obj.dict().Find(key)) return *v;
      break;
    case Value::Type::kList:
    case Value::Type::kString:
      if (IsIntLike(key)) {
        int64_t i = key.int_value();
        if (obj.is_list()) {
          const auto& items = obj.list().items;
          const auto n = static_cast<int64_t>(items.size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
        } else {
          const std::u32string cs = DecodeUtf8(obj.str());
          const auto n = static_cast<int64_t>(cs.size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) {
            std::string s;
            AppendUtf8(cs[static_cast<size_t>(i)], s);
            return Value::String(std::move(s));
          }
        }
        return Value::Undefined(fmt::format("{} index {} out of range", obj.TypeName(), key.int_value()));
      }
      break;
    case Value::Type::kObject:
      if (key.is_string()) {
        if (const Value* v = obj.object().attrs.FindStr(key.str())) return *v;
      }
      break;
    default: break;
  }
  if (key.is_string() && HasMethod(obj, key.str())) return BoundMethod(obj, key.str());
  return Value::Undefined(fmt::format("'{} object' has no attribute {}", obj.TypeName(), key.Repr()));
}

Result<Value> SliceValue(const Value& obj, const Value& start, const Value& stop,
                         const Value& step) {
  if (obj.is_undefined()) return UndefinedError(obj);
  auto valid = [](const Value& v) { return v.is_none() || IsIntLike(v); };
  if (!(obj.is_list() || obj.is_string()) || !valid(start) || !valid(stop) || !valid(step)) {
    return Value::Undefined(fmt::format("'{}' object cannot be sliced", obj.TypeName()));
  }
  const int64_t st = step.is_none() ? 1 : step.int_value();
  if (st == 0) return Status::Error("ValueError: slice step cannot be zero");
  std::u32string cs;
  int64_t len = 0;
  if (obj.is_string()) {
    cs = DecodeUtf8(obj.str());
    len = static_cast<int64_t>(cs.size());
  } else {
    len = static_cast<int64_t>(obj.list().items.size());
  }
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](const Value& v, int64_t def) {
    if (v.is_none()) return def;
    int64_t i = v.int_value();
    if (i < 0) {
      i += len;
      if (i < 0) i = st < 0 ? -1 : 0;
    } else if (i >= len) {
      i = st < 0 ? len - 1 : len;
    }
    return i;
  };
  const int64_t b = adjust(start, st > 0 ? 0 : len - 1);
  const int64_t e = adjust(stop, st > 0 ? len : -1);
  std::vector<size_t> picks;
  for (int64_t i = b; st > 0 ? i < e : i > e;) {
    picks.push_back(static_cast<size_t>(i));
    if (__builtin_add_overflow(i, st, &i)) break;
  }
  if (obj.is_string()) {
    std::string out;
    for (size_t i : picks) AppendUtf8(cs[i], out);
    return Value::String(std::move(out));
  }
  std::vector<Value> items;
  items.reserve(picks.size());
  for (size_t i : picks) items.push_back(obj.list().items[i]);
  return obj.list().is_tuple ? Value::MakeTuple(std::move(items)) : Value::MakeList(std::move(items));
}

Result<std::vector<Value>> Iterate(const Value& value) {
  switch (value.type()) {
    case Value::Type::kUndefined: return std::vector<Value>{};
    case Value::Type::kList: return value.list().items;
    case Value::Type::kDict: {
      std::vector<Value> keys;
      keys.reserve(value.dict().size());
      for (const auto& kv : value.dict().items()) keys.push_back(kv.first);
      return keys;
    }
    case Value::Type::kString: {
      std::vector<Value> chars;
      for (char32_t c : DecodeUtf8(value.str())) {
        std::string s;
        AppendUtf8(c, s);
        chars.push_back(Value::String(std::move(s)));
      }
      return chars;
    }
    default:
      return Status::Errorf("TypeError: '{}' object is not iterable", value.TypeName());
  }
}

Result<Value> GetAttrPath(const Value& obj, const std::string& path) {
  Value v = obj;
  size_t pos = 0;
  while (true) {
    const size_t dot = path.find('.', pos);
    const std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    const bool numeric = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    Value key = numeric ? Value::Int(std::strtoll(part.c_str(), nullptr, 10)) : Value::String(part);
    MOE_ASSIGN_OR_RETURN(v, GetItem(v, key));
    if (dot == std::string::npos) return v;
    pos = dot + 1;
  }
}

}  // namespace moe::jinja
