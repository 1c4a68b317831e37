// Global functions of the rendering environment: Jinja2's range, dict, namespace, cycler and
// joiner, plus Hugging Face's raise_exception and strftime_now.
#include <fmt/format.h>

#include <clocale>
#include <ctime>
#include <locale.h>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/limits.h"

namespace moe::jinja {
namespace {

// SandboxedEnvironment's MAX_RANGE: range() may produce at most this many items.
constexpr int64_t kMaxRange = 100000;

Result<int64_t> IntParam(const Value& v, std::string_view fn) {
  if (!v.is_int() && !v.is_bool()) {
    return Status::Errorf("TypeError: {}() expects integers, got {}", fn, v.TypeName());
  }
  return v.int_value();
}

Result<Value> Range(Interpreter& in, CallArgs& args) {
  if (!args.keyword.empty()) return Status::Error("TypeError: range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) {
    return Status::Errorf("TypeError: range expected 1 to 3 arguments, got {}", p.size());
  }
  int64_t start = 0, stop = 0, step = 1;
  if (p.size() == 1) {
    MOE_ASSIGN_OR_RETURN(stop, IntParam(p[0], "range"));
  } else {
    MOE_ASSIGN_OR_RETURN(start, IntParam(p[0], "range"));
    MOE_ASSIGN_OR_RETURN(stop, IntParam(p[1], "range"));
    if (p.size() == 3) {
      MOE_ASSIGN_OR_RETURN(step, IntParam(p[2], "range"));
    }
  }
  if (step == 0) return Status::Error("ValueError: range() arg 3 must not be zero");
  // Length computed in long double: start/stop span the whole int64 range.
  const long double span = step > 0 ? static_cast<long double>(stop) - start
                                    : static_cast<long double>(start) - stop;
  const long double len = span <= 0 ? 0 : (span + std::abs(static_cast<long double>(step)) - 1) /
                                              std::abs(static_cast<long double>(step));
  if (len > kMaxRange) {
    return Status::Errorf(
        "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).",
        kMaxRange);
  }
  const auto n = static_cast<size_t>(len);
  MOE_RETURN_IF_ERROR(in.ChargeItems(n));
  std::vector<Value> items;
  items.reserve(n);
  for (size_t i = 0; i < n; ++i) items.push_back(Value::Int(start + static_cast<int64_t>(i) * step));
  return Value::MakeList(std::move(items));
}

// dict(*args, **kwargs) as Python builds it: a mapping or an iterable of pairs, then keywords.
Result<std::shared_ptr<Dict>> BuildDict(Interpreter& in, CallArgs& args, std::string_view fn) {
  auto d = std::make_shared<Dict>();
  if (args.positional.size() > 1) {
    return Status::Errorf("TypeError: {} expected at most 1 positional argument", fn);
  }
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      for (const auto& [k, v] : src.dict().items()) MOE_RETURN_IF_ERROR(d->Set(k, v));
    } else {
      MOE_ASSIGN_OR_RETURN(std::vector<Value> pairs, Iterate(src));
      for (const Value& p : pairs) {
        if (!p.is_list() || p.list().items.size() != 2) {
          return Status::Errorf("ValueError: {} update sequence element has wrong length", fn);
        }
        MOE_RETURN_IF_ERROR(d->Set(p.list().items[0], p.list().items[1]));
      }
    }
  }
  for (const auto& [k, v] : args.keyword) d->SetStr(k, v);
  MOE_RETURN_IF_ERROR(in.ChargeItems(d->size()));
  return d;
}

Result<Value> DictGlobal(Interpreter& in, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(std::shared_ptr<Dict> d, BuildDict(in, args, "dict"));
  return Value::MakeDict(std::move(d));
}

Result<Value> Namespace(Interpreter& in, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(std::shared_ptr<Dict> d, BuildDict(in, args, "namespace"));
  auto ns = std::make_shared<Object>();
  ns->type_name = "Namespace";
  ns->assignable = true;
  for (const auto& [k, v] : d->items()) {
    if (k.is_string()) ns->attrs.SetStr(k.str(), v);
  }
  return Value::MakeObject(std::move(ns));
}

Result<Value> Cycler(Interpreter&, CallArgs& args) {
  if (args.positional.empty()) return Status::Error("TypeError: cycler() needs at least one item");
  auto obj = std::make_shared<Object>();
  obj->type_name = "Cycler";
  auto items = std::make_shared<std::vector<Value>>(args.positional);
  auto pos = std::make_shared<size_t>(0);
  std::weak_ptr<Object> weak = obj;
  obj->attrs.SetStr("items", Value::MakeList(*items));
  obj->attrs.SetStr("current", (*items)[0]);
  obj->attrs.SetStr("next", Value::MakeCallable("next", [items, pos, weak](Interpreter&, CallArgs&) {
    Value v = (*items)[*pos];
    *pos = (*pos + 1) % items->size();
    if (auto o = weak.lock()) o->attrs.SetStr("current", (*items)[*pos]);
    return Result<Value>(v);
  }));
  obj->attrs.SetStr("reset", Value::MakeCallable("reset", [items, pos, weak](Interpreter&, CallArgs&) {
    *pos = 0;
    if (auto o = weak.lock()) o->attrs.SetStr("current", (*items)[0]);
    return Result<Value>(Value::None());
  }));
  return Value::MakeObject(std::move(obj));
}

Result<Value> Joiner(Interpreter&, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("joiner", args, {{"sep", Value::String(", ")}}));
  auto obj = std::make_shared<Object>();
  obj->type_name = "Joiner";
  auto used = std::make_shared<bool>(false);
  const std::string sep = a[0].Str();
  obj->call = [used, sep](Interpreter&, CallArgs&) -> Result<Value> {
    if (!*used) {
      *used = true;
      return Value::String("");
    }
    return Value::String(sep);
  };
  return Value::MakeObject(std::move(obj));
}

Result<Value> RaiseException(Interpreter& in, CallArgs& args) {
  std::string message = args.positional.empty() ? "" : args.positional[0].Str();
  return in.Raise(std::move(message));
}

Result<Value> StrftimeNow(Interpreter& in, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("strftime_now", args, {{"format", std::nullopt}}));
  if (!a[0].is_string()) return Status::Error("TypeError: strftime() argument 1 must be str");
  int64_t seconds = 0;
  if (in.config().now) {
    seconds = in.config().now->time_since_epoch().count();
  } else {
    const std::time_t t = std::time(nullptr);
    std::tm local{};
    localtime_r(&t, &local);
    seconds = static_cast<int64_t>(timegm(&local));  // local wall clock, read as if UTC
  }
  MOE_ASSIGN_OR_RETURN(std::string s, StrftimeNaive(a[0].str(), seconds));
  return Value::String(std::move(s));
}

Value MakeGlobal(const char* name, NativeFn fn) { return Value::MakeCallable(name, std::move(fn)); }

}  // namespace

Result<std::string> StrftimeNaive(std::string_view fmt_str, int64_t seconds) {
  if (fmt_str.size() > 4096) return Status::Error("ValueError: strftime format too long");
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return Status::Error("OverflowError: timestamp out of range");
  // Python formats with the C library in the "C" locale; use it explicitly so a process-wide
  // setlocale() elsewhere cannot change month and day names.
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(0));
  const std::string f(fmt_str);
  std::string buf(f.size() * 16 + 256, '\0');
  const size_t n = strftime_l(buf.data(), buf.size(), f.c_str(), &tm, c_locale);
  buf.resize(n);
  return buf;
}

Value LookupGlobal(const std::string& name) {
  static const auto* globals = new std::unordered_map<std::string, Value>{
      {"range", MakeGlobal("range", Range)},
      {"dict", MakeGlobal("dict", DictGlobal)},
      {"namespace", MakeGlobal("namespace", Namespace)},
      {"cycler", MakeGlobal("cycler", Cycler)},
      {"joiner", MakeGlobal("joiner", Joiner)},
      {"raise_exception", MakeGlobal("raise_exception", RaiseException)},
      {"strftime_now", MakeGlobal("strftime_now", StrftimeNow)},
  };
  auto it = globals->find(name);
  return it == globals->end() ? Value() : it->second;
}

}  // namespace moe::jinja
