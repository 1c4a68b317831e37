// Jinja2's built-in filters over sequences, mappings and numbers (jinja2/filters.py), plus
// Hugging Face's tojson (Python json.dumps) and the kit's from_json. String filters live in
// filters_text.cc. Lazy filters (map, select, reject, selectattr, rejectattr) return lists:
// the kit's `lazy_sequence_tojson` alternative, so `tools|map(...)|tojson` serialises.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/json_convert.h"
#include "tokenizer/jinja/limits.h"
#include "tokenizer/jinja/py_string.h"

namespace moe::jinja {
namespace {

const Value kNone = Value::None();
const Value kFalse = Value::Bool(false);

Value LowerIfString(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value::String(PyLower(v.str())) : v;
}

// make_attrgetter: item lookup along "a.b.0"; no attribute (None) returns the item itself.
Result<Value> AttrGet(const Value& item, const Value& attribute, const Value& default_value) {
  if (attribute.is_none()) return item;
  Value v;
  if (attribute.is_string()) {
    MOE_ASSIGN_OR_RETURN(v, GetAttrPath(item, attribute.str()));
  } else {
    MOE_ASSIGN_OR_RETURN(v, GetItem(item, attribute));
  }
  if (v.is_undefined() && !default_value.is_none()) return default_value;
  return v;
}

Result<std::vector<Value>> Items(const Value& v) { return Iterate(v); }

Result<Value> FilterLength(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("length", args, {}).status());
  switch (v.type()) {
    case Value::Type::kUndefined: return Value::Int(0);
    case Value::Type::kString: return Value::Int(static_cast<int64_t>(CodePointCount(v.str())));
    case Value::Type::kList: return Value::Int(static_cast<int64_t>(v.list().items.size()));
    case Value::Type::kDict: return Value::Int(static_cast<int64_t>(v.dict().size()));
    default: return Status::Errorf("TypeError: object of type '{}' has no len()", v.TypeName());
  }
}

Result<Value> FilterDefault(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("default", args, {{"default_value", Value::String("")},
                                                          {"boolean", kFalse}}));
  if (v.is_undefined() || (a[1].Truthy() && !v.Truthy())) return a[0];
  return v;
}

Result<Value> FilterList(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("list", args, {}).status());
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  MOE_RETURN_IF_ERROR(in.ChargeItems(items.size()));
  return Value::MakeList(std::move(items));
}

Result<Value> FilterItems(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("items", args, {}).status());
  if (v.is_undefined()) return Value::MakeList();
  if (!v.is_dict()) return Status::Error("TypeError: Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict().items()) out.push_back(Value::MakeTuple({k, x}));
  return Value::MakeList(std::move(out));
}

Result<Value> FilterFirst(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("first", args, {}).status());
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  if (items.empty()) return Value::Undefined("No first item, sequence was empty.");
  return items.front();
}

Result<Value> FilterLast(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("last", args, {}).status());
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  if (items.empty()) return Value::Undefined("No last item, sequence was empty.");
  return items.back();
}

Result<Value> FilterReverse(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("reverse", args, {}).status());
  if (v.is_string()) {
    std::u32string cs = DecodeUtf8(v.str());
    std::reverse(cs.begin(), cs.end());
    return Value::String(EncodeUtf8(cs));
  }
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  std::reverse(items.begin(), items.end());
  return Value::MakeList(std::move(items));
}

Result<Value> FilterJoin(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("join", args, {{"d", Value::String("")}, {"attribute", kNone}}));
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  const std::string sep = a[0].Str();
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    MOE_ASSIGN_OR_RETURN(Value item, AttrGet(items[i], a[1], kNone));
    if (i) out += sep;
    out += item.Str();
    MOE_RETURN_IF_ERROR(in.ChargeString(out.size()));
  }
  return Value::String(std::move(out));
}

// Sort keys per make_multi_attrgetter: one key per comma-separated attribute.
Result<std::vector<Value>> SortKeys(const Value& item, const Value& attribute, bool case_sensitive) {
  std::vector<Value> keys;
  if (attribute.is_string()) {
    for (const std::string& part : PySplit(attribute.str(), std::string(","), -1)) {
      MOE_ASSIGN_OR_RETURN(Value k, GetAttrPath(item, part));
      keys.push_back(LowerIfString(k, case_sensitive));
    }
  } else {
    MOE_ASSIGN_OR_RETURN(Value k, AttrGet(item, attribute, kNone));
    keys.push_back(LowerIfString(k, case_sensitive));
  }
  return keys;
}

// Python's sorted(..., key=..., reverse=...): stable in both directions.
Status StableSortByKeys(std::vector<Value>& items, std::vector<std::vector<Value>> keys,
                        bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Status st;
  auto less = [&](const std::vector<Value>& x, const std::vector<Value>& y) {
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      auto c = Compare(x[i], y[i]);
      if (!c.ok()) {
        st = c.status();
        return false;
      }
      if (*c != 0) return *c < 0;
    }
    return x.size() < y.size();
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? less(keys[b], keys[a]) : less(keys[a], keys[b]);
  });
  MOE_RETURN_IF_ERROR(st);
  std::vector<Value> sorted;
  sorted.reserve(items.size());
  for (size_t i : order) sorted.push_back(std::move(items[i]));
  items = std::move(sorted);
  return Status();
}

Result<Value> FilterSort(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("sort", args, {{"reverse", kFalse}, {"case_sensitive", kFalse},
                                                       {"attribute", kNone}}));
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  std::vector<std::vector<Value>> keys;
  for (const Value& item : items) {
    MOE_ASSIGN_OR_RETURN(auto k, SortKeys(item, a[2], a[1].Truthy()));
    keys.push_back(std::move(k));
  }
  MOE_RETURN_IF_ERROR(StableSortByKeys(items, std::move(keys), a[0].Truthy()));
  return Value::MakeList(std::move(items));
}

Result<Value> FilterDictsort(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("dictsort", args, {{"case_sensitive", kFalse},
                                                           {"by", Value::String("key")},
                                                           {"reverse", kFalse}}));
  if (!v.is_dict()) return Status::Error("TypeError: dictsort expects a mapping");
  const std::string by = a[1].Str();
  if (by != "key" && by != "value") {
    return Status::Error("FilterArgumentError: You can only sort by either \"key\" or \"value\"");
  }
  std::vector<Value> items;
  std::vector<std::vector<Value>> keys;
  for (const auto& [k, x] : v.dict().items()) {
    items.push_back(Value::MakeTuple({k, x}));
    keys.push_back({LowerIfString(by == "key" ? k : x, a[0].Truthy())});
  }
  MOE_RETURN_IF_ERROR(StableSortByKeys(items, std::move(keys), a[2].Truthy()));
  return Value::MakeList(std::move(items));
}

Result<Value> FilterUnique(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("unique", args, {{"case_sensitive", kFalse}, {"attribute", kNone}}));
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  std::unordered_set<std::string> seen;
  std::vector<Value> out;
  for (const Value& item : items) {
    MOE_ASSIGN_OR_RETURN(Value k, AttrGet(item, a[1], kNone));
    MOE_ASSIGN_OR_RETURN(std::string hk, LowerIfString(k, a[0].Truthy()).HashKey());
    if (seen.insert(hk).second) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

Result<Value> MinMax(const Value& v, CallArgs& args, bool want_max) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs(want_max ? "max" : "min", args,
                                        {{"case_sensitive", kFalse}, {"attribute", kNone}}));
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  MOE_ASSIGN_OR_RETURN(Value best_key, AttrGet(items[0], a[1], kNone));
  best_key = LowerIfString(best_key, a[0].Truthy());
  for (size_t i = 1; i < items.size(); ++i) {
    MOE_ASSIGN_OR_RETURN(Value k, AttrGet(items[i], a[1], kNone));
    k = LowerIfString(k, a[0].Truthy());
    MOE_ASSIGN_OR_RETURN(int c, Compare(k, best_key));
    if (want_max ? c > 0 : c < 0) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

Result<Value> FilterMin(Interpreter&, const Value& v, CallArgs& args) { return MinMax(v, args, false); }
Result<Value> FilterMax(Interpreter&, const Value& v, CallArgs& args) { return MinMax(v, args, true); }

Result<Value> FilterSum(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("sum", args, {{"attribute", kNone}, {"start", Value::Int(0)}}));
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  Value total = a[1];
  for (const Value& item : items) {
    MOE_ASSIGN_OR_RETURN(Value x, AttrGet(item, a[0], kNone));
    if (total.is_string()) return Status::Error("TypeError: sum() can't sum strings");
    MOE_ASSIGN_OR_RETURN(total, BinaryOp(in, "+", total, x));
  }
  return total;
}

Result<Value> FilterMap(Interpreter& in, const Value& v, CallArgs& args) {
  if (!v.Truthy()) return Value::MakeList();
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  std::vector<Value> out;
  out.reserve(items.size());
  auto attr = std::find_if(args.keyword.begin(), args.keyword.end(),
                           [](const auto& kv) { return kv.first == "attribute"; });
  if (args.positional.empty() && attr != args.keyword.end()) {
    Value attribute = attr->second;
    Value default_value = kNone;
    for (const auto& [k, x] : args.keyword) {
      if (k == "default") {
        default_value = x;
      } else if (k != "attribute") {
        return Status::Errorf("FilterArgumentError: Unexpected keyword argument '{}'", k);
      }
    }
    for (const Value& item : items) {
      MOE_ASSIGN_OR_RETURN(Value x, AttrGet(item, attribute, default_value));
      out.push_back(std::move(x));
    }
    return Value::MakeList(std::move(out));
  }
  if (args.positional.empty()) return Status::Error("FilterArgumentError: map requires a filter argument");
  const std::string name = args.positional[0].Str();
  for (const Value& item : items) {
    CallArgs sub{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.keyword};
    MOE_ASSIGN_OR_RETURN(Value x, in.ApplyFilter(name, item, sub));
    out.push_back(std::move(x));
  }
  return Value::MakeList(std::move(out));
}

// select / reject / selectattr / rejectattr.
Result<Value> SelectOrReject(Interpreter& in, const Value& v, CallArgs& args, bool select,
                             bool lookup_attr) {
  if (!v.Truthy()) return Value::MakeList();
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  size_t off = 0;
  Value attribute = kNone;
  if (lookup_attr) {
    if (args.positional.empty()) return Status::Error("FilterArgumentError: Missing parameter for attribute name");
    attribute = args.positional[0];
    off = 1;
  }
  const bool has_test = args.positional.size() > off;
  const std::string test = has_test ? args.positional[off].Str() : "";
  std::vector<Value> out;
  for (const Value& item : items) {
    MOE_ASSIGN_OR_RETURN(Value x, AttrGet(item, attribute, kNone));
    bool r = x.Truthy();
    if (has_test) {
      CallArgs sub{std::vector<Value>(args.positional.begin() + static_cast<std::ptrdiff_t>(off) + 1,
                                      args.positional.end()),
                   args.keyword};
      MOE_ASSIGN_OR_RETURN(r, in.ApplyTest(test, x, sub));
    }
    if (r == select) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

Result<Value> FilterSelect(Interpreter& in, const Value& v, CallArgs& a) { return SelectOrReject(in, v, a, true, false); }
Result<Value> FilterReject(Interpreter& in, const Value& v, CallArgs& a) { return SelectOrReject(in, v, a, false, false); }
Result<Value> FilterSelectattr(Interpreter& in, const Value& v, CallArgs& a) { return SelectOrReject(in, v, a, true, true); }
Result<Value> FilterRejectattr(Interpreter& in, const Value& v, CallArgs& a) { return SelectOrReject(in, v, a, false, true); }

Result<Value> FilterAttr(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("attr", args, {{"name", std::nullopt}}));
  const std::string name = a[0].Str();
  if (v.is_object()) {
    if (const Value* x = v.object().attrs.FindStr(name)) return *x;
  } else if (HasMethod(v, name)) {
    return BoundMethod(v, name);
  }
  return Value::Undefined(fmt::format("'{} object' has no attribute '{}'", v.TypeName(), name));
}

Result<int64_t> CountArg(const Value& v, std::string_view what) {
  if (!v.is_int() && !v.is_bool()) return Status::Errorf("TypeError: {} must be an integer", what);
  return v.int_value();
}

Result<Value> FilterBatch(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("batch", args, {{"linecount", std::nullopt}, {"fill_with", kNone}}));
  MOE_ASSIGN_OR_RETURN(int64_t n, CountArg(a[0], "linecount"));
  if (n <= 0) return Status::Error("ValueError: batch size must be positive");
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  std::vector<Value> out, row;
  for (Value& item : items) {
    if (static_cast<int64_t>(row.size()) == n) {
      out.push_back(Value::MakeList(std::move(row)));
      row.clear();
    }
    row.push_back(std::move(item));
  }
  if (!row.empty()) {
    if (!a[1].is_none() && static_cast<int64_t>(row.size()) < n) {
      MOE_RETURN_IF_ERROR(in.ChargeItems(static_cast<size_t>(n)));
      row.resize(static_cast<size_t>(n), a[1]);
    }
    out.push_back(Value::MakeList(std::move(row)));
  }
  return Value::MakeList(std::move(out));
}

Result<Value> FilterSlice(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("slice", args, {{"slices", std::nullopt}, {"fill_with", kNone}}));
  MOE_ASSIGN_OR_RETURN(int64_t slices, CountArg(a[0], "slices"));
  if (slices <= 0) return Status::Error("ZeroDivisionError: slice count must be positive");
  MOE_RETURN_IF_ERROR(in.ChargeItems(static_cast<size_t>(std::min<int64_t>(slices, kMaxListItems + 1))));
  MOE_ASSIGN_OR_RETURN(std::vector<Value> seq, Items(v));
  const auto length = static_cast<int64_t>(seq.size());
  const int64_t per = length / slices, extra = length % slices;
  int64_t offset = 0;
  std::vector<Value> out;
  for (int64_t s = 0; s < slices; ++s) {
    const int64_t start = offset + s * per;
    if (s < extra) ++offset;
    const int64_t end = offset + (s + 1) * per;
    std::vector<Value> part(seq.begin() + start, seq.begin() + end);
    if (!a[1].is_none() && s >= extra) part.push_back(a[1]);
    out.push_back(Value::MakeList(std::move(part)));
  }
  return Value::MakeList(std::move(out));
}

Result<Value> FilterGroupby(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("groupby", args, {{"attribute", std::nullopt}, {"default", kNone},
                                                          {"case_sensitive", kFalse}}));
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Items(v));
  const bool cs = a[2].Truthy();
  std::vector<std::vector<Value>> keys;
  for (const Value& item : items) {
    MOE_ASSIGN_OR_RETURN(Value k, AttrGet(item, a[0], a[1]));
    keys.push_back({LowerIfString(k, cs)});
  }
  std::vector<Value> sorted = items;
  MOE_RETURN_IF_ERROR(StableSortByKeys(sorted, keys, false));
  std::vector<Value> out;
  std::vector<Value> group;
  Value group_key;
  for (const Value& item : sorted) {
    MOE_ASSIGN_OR_RETURN(Value k, AttrGet(item, a[0], a[1]));
    const Value key = LowerIfString(k, cs);
    if (!group.empty() && !Equals(key, LowerIfString(group_key, cs))) {
      out.push_back(Value::MakeTuple({group_key, Value::MakeList(std::move(group))}));
      group.clear();
    }
    if (group.empty()) group_key = k;
    group.push_back(item);
  }
  if (!group.empty()) out.push_back(Value::MakeTuple({group_key, Value::MakeList(std::move(group))}));
  return Value::MakeList(std::move(out));
}

Result<Value> FilterTojson(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("tojson", args, {{"ensure_ascii", kFalse}, {"indent", kNone},
                                                         {"separators", kNone}, {"sort_keys", kFalse}}));
  DumpOptions opt;
  opt.ensure_ascii = a[0].Truthy();
  if (a[1].is_int() || a[1].is_bool()) {
    opt.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(a[1].int_value(), 0, 1024)), ' ');
  } else if (a[1].is_string()) {
    opt.indent = a[1].str();
  } else if (!a[1].is_none()) {
    return Status::Errorf("TypeError: tojson indent must be an int or a str, not {}", a[1].TypeName());
  }
  if (!a[2].is_none()) {
    if (!a[2].is_list() || a[2].list().items.size() != 2 || !a[2].list().items[0].is_string() ||
        !a[2].list().items[1].is_string()) {
      return Status::Error("TypeError: tojson separators must be a pair of strings");
    }
    opt.item_separator = a[2].list().items[0].str();
    opt.key_separator = a[2].list().items[1].str();
  }
  opt.sort_keys = a[3].Truthy();
  MOE_ASSIGN_OR_RETURN(std::string s, DumpJson(v, opt));
  MOE_RETURN_IF_ERROR(in.ChargeString(s.size()));
  return Value::String(std::move(s));
}

Result<Value> FilterFromJson(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("from_json", args, {}).status());
  if (!v.is_string()) {
    return Status::Errorf("TypeError: the JSON object must be str, not {}", v.TypeName());
  }
  return ParseJson(v.str());
}

Result<Value> FilterAbs(Interpreter&, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(BindArgs("abs", args, {}).status());
  if (v.is_float()) return Value::Float(std::fabs(v.float_value()));
  if (v.is_int() || v.is_bool()) {
    if (v.int_value() == std::numeric_limits<int64_t>::min()) return Status::Error("OverflowError");
    return Value::Int(std::llabs(v.int_value()));
  }
  return Status::Errorf("TypeError: bad operand type for abs(): '{}'", v.TypeName());
}

std::optional<double> ParseFloat(const std::string& text) {
  const std::string s = PyStrip(text, true, true, std::nullopt);
  if (s.empty()) return std::nullopt;
  std::string clean;
  for (char c : s) {
    if (c != '_') clean.push_back(c);
  }
  char* end = nullptr;
  const double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return d;
}

Result<Value> FilterInt(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("int", args, {{"default", Value::Int(0)}, {"base", Value::Int(10)}}));
  if (v.is_int() || v.is_bool()) return Value::Int(v.int_value());
  if (v.is_float()) {
    if (!std::isfinite(v.float_value()) || std::fabs(v.float_value()) >= 9.2e18) return a[0];
    return Value::Int(static_cast<int64_t>(v.float_value()));
  }
  if (v.is_string()) {
    const std::string s = PyStrip(v.str(), true, true, std::nullopt);
    std::string clean;
    for (char c : s) {
      if (c != '_') clean.push_back(c);
    }
    const int base = a[1].is_int() ? static_cast<int>(a[1].int_value()) : 10;
    if (!clean.empty() && base >= 0 && base <= 36) {
      errno = 0;
      char* end = nullptr;
      const long long x = std::strtoll(clean.c_str(), &end, base);
      if (errno == 0 && end == clean.c_str() + clean.size()) return Value::Int(x);
    }
    if (auto d = ParseFloat(v.str()); d && std::isfinite(*d) && std::fabs(*d) < 9.2e18) {
      return Value::Int(static_cast<int64_t>(*d));
    }
  }
  return a[0];
}

Result<Value> FilterFloat(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("float", args, {{"default", Value::Float(0.0)}}));
  if (v.is_number()) return Value::Float(v.AsDouble());
  if (v.is_string()) {
    if (auto d = ParseFloat(v.str())) return Value::Float(*d);
  }
  return a[0];
}

Result<Value> FilterRound(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("round", args, {{"precision", Value::Int(0)},
                                                        {"method", Value::String("common")}}));
  const std::string method = a[1].Str();
  if (method != "common" && method != "ceil" && method != "floor") {
    return Status::Error("FilterArgumentError: method must be common, ceil or floor");
  }
  if (!v.is_number()) return Status::Errorf("TypeError: type {} doesn't define __round__", v.TypeName());
  if (!a[0].is_int()) return Status::Error("TypeError: precision must be an integer");
  const int64_t p = std::clamp<int64_t>(a[0].int_value(), -308, 308);
  if (method == "common" && !v.is_float()) return Value::Int(v.int_value());
  const double x = v.AsDouble();
  const double scale = std::pow(10.0, static_cast<double>(p));
  if (method == "ceil") return Value::Float(std::ceil(x * scale) / scale);
  if (method == "floor") return Value::Float(std::floor(x * scale) / scale);
  if (!std::isfinite(x)) return Value::Float(x);
  if (p >= 0) {  // correctly rounded, ties to even, as Python's round()
    return Value::Float(std::strtod(fmt::format("{:.{}f}", x, p).c_str(), nullptr));
  }
  return Value::Float(std::nearbyint(x / std::pow(10.0, static_cast<double>(-p))) *
                      std::pow(10.0, static_cast<double>(-p)));
}

}  // namespace

const std::unordered_map<std::string_view, FilterFn>& Filters() {
  static const auto* table = new std::unordered_map<std::string_view, FilterFn>{
      {"abs", FilterAbs},           {"attr", FilterAttr},
      {"batch", FilterBatch},       {"count", FilterLength},
      {"d", FilterDefault},         {"default", FilterDefault},
      {"dictsort", FilterDictsort}, {"first", FilterFirst},
      {"float", FilterFloat},       {"from_json", FilterFromJson},
      {"groupby", FilterGroupby},   {"int", FilterInt},
      {"items", FilterItems},       {"join", FilterJoin},
      {"last", FilterLast},         {"length", FilterLength},
      {"list", FilterList},         {"map", FilterMap},
      {"max", FilterMax},           {"min", FilterMin},
      {"reject", FilterReject},     {"rejectattr", FilterRejectattr},
      {"reverse", FilterReverse},   {"round", FilterRound},
      {"select", FilterSelect},     {"selectattr", FilterSelectattr},
      {"slice", FilterSlice},       {"sort", FilterSort},
      {"sum", FilterSum},           {"tojson", FilterTojson},
      {"unique", FilterUnique},
  };
  return *table;
}

}  // namespace moe::jinja
