// JSON conversion and Python-compatible json.dumps (see json_convert.h).
#include "tokenizer/jinja/json_convert.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tokenizer/jinja/limits.h"
#include "tokenizer/jinja/py_string.h"

namespace moe::jinja {
namespace {

template <typename Json>
Result<Value> Convert(const Json& j, int depth) {
  if (depth > kMaxValueDepth) {
    return Status::Errorf("JSON value nested deeper than {} levels", kMaxValueDepth);
  }
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::None();
    case nlohmann::json::value_t::boolean: return Value::Bool(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::Float(static_cast<double>(u));
      }
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::Float(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::String(j.template get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) {
        MOE_ASSIGN_OR_RETURN(Value v, Convert(e, depth + 1));
        items.push_back(std::move(v));
      }
      return Value::MakeList(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value d = Value::MakeDict();
      for (auto it = j.begin(); it != j.end(); ++it) {
        MOE_ASSIGN_OR_RETURN(Value v, Convert(it.value(), depth + 1));
        d.dict().SetStr(it.key(), std::move(v));
      }
      return d;
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded: break;
  }
  return Status::Error("unsupported JSON value (binary or discarded)");
}

void AppendJsonString(std::string_view s, bool ensure_ascii, std::string& out) {
  out.push_back('"');
  for (char32_t c : DecodeUtf8(s)) {
    switch (c) {
      case '"': out.append("\\\""); continue;
      case '\\': out.append("\\\\"); continue;
      case '\n': out.append("\\n"); continue;
      case '\r': out.append("\\r"); continue;
      case '\t': out.append("\\t"); continue;
      case '\b': out.append("\\b"); continue;
      case '\f': out.append("\\f"); continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c >= 0x10000) {  // UTF-16 surrogate pair, as Python writes it
        const char32_t v = c - 0x10000;
        out.append(fmt::format("\\u{:04x}\\u{:04x}", static_cast<unsigned>(0xD800 + (v >> 10)),
                               static_cast<unsigned>(0xDC00 + (v & 0x3FF))));
      } else {
        out.append(fmt::format("\\u{:04x}", static_cast<unsigned>(c)));
      }
    } else {
      AppendUtf8(c, out);
    }
  }
  out.push_back('"');
}

std::string FloatJson(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return PyFloatRepr(d);
}

struct Dumper {
  const DumpOptions& opt;
  std::string item_sep;
  std::string key_sep;
  std::string out;

  void Newline(int level) {
    out.push_back('\n');
    for (int i = 0; i < level; ++i) out.append(*opt.indent);
  }

  Result<std::string> KeyString(const Value& k) {
    switch (k.type()) {
      case Value::Type::kString: return k.str();
      case Value::Type::kInt: return std::to_string(k.int_value());
      case Value::Type::kFloat: return FloatJson(k.float_value());
      case Value::Type::kBool: return std::string(k.bool_value() ? "true" : "false");
      case Value::Type::kNone: return std::string("null");
      default:
        return Status::Errorf("TypeError: keys must be str, int, float, bool or None, not {}",
                              k.TypeName());
    }
  }

  Status Dump(const Value& v, int level) {
    if (level > kMaxValueDepth) return Status::Error("ValueError: Circular reference detected");
    if (out.size() > kMaxOutputBytes) {
      return Status::Errorf("tojson output exceeds {} bytes", kMaxOutputBytes);
    }
    switch (v.type()) {
      case Value::Type::kNone: out.append("null"); return Status();
      case Value::Type::kBool: out.append(v.bool_value() ? "true" : "false"); return Status();
      case Value::Type::kInt: out.append(std::to_string(v.int_value())); return Status();
      case Value::Type::kFloat: out.append(FloatJson(v.float_value())); return Status();
      case Value::Type::kString: AppendJsonString(v.str(), opt.ensure_ascii, out); return Status();
      case Value::Type::kList: {
        const auto& items = v.list().items;
        if (items.empty()) {
          out.append("[]");
          return Status();
        }
        out.push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out.append(item_sep);
          if (opt.indent) Newline(level + 1);
          MOE_RETURN_IF_ERROR(Dump(items[i], level + 1));
        }
        if (opt.indent) Newline(level);
        out.push_back(']');
        return Status();
      }
      case Value::Type::kDict: {
        if (v.dict().size() == 0) {
          out.append("{}");
          return Status();
        }
        std::vector<const std::pair<Value, Value>*> entries;
        for (const auto& e : v.dict().items()) entries.push_back(&e);
        if (opt.sort_keys) {
          Status st;
          std::stable_sort(entries.begin(), entries.end(), [&](auto* a, auto* b) {
            auto c = Compare(a->first, b->first);
            if (!c.ok()) {
              st = c.status();
              return false;
            }
            return *c < 0;
          });
          MOE_RETURN_IF_ERROR(st);
        }
        out.push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i) out.append(item_sep);
          if (opt.indent) Newline(level + 1);
          MOE_ASSIGN_OR_RETURN(std::string key, KeyString(entries[i]->first));
          AppendJsonString(key, opt.ensure_ascii, out);
          out.append(key_sep);
          MOE_RETURN_IF_ERROR(Dump(entries[i]->second, level + 1));
        }
        if (opt.indent) Newline(level);
        out.push_back('}');
        return Status();
      }
      case Value::Type::kUndefined:
        return Status::Error("UndefinedError: tojson of an undefined value");
      default:
        return Status::Errorf("TypeError: Object of type {} is not JSON serializable",
                              v.TypeName());
    }
  }
};

}  // namespace

Result<Value> FromJson(const nlohmann::ordered_json& j) { return Convert(j, 0); }
Result<Value> FromJson(const nlohmann::json& j) { return Convert(j, 0); }

Result<Value> ParseJson(std::string_view text) {
  // Reject hostile nesting before nlohmann builds it.
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') max_depth = std::max(max_depth, ++depth);
    if (c == ']' || c == '}') --depth;
  }
  if (max_depth > kMaxValueDepth) {
    return Status::Errorf("from_json: JSON nested deeper than {} levels", kMaxValueDepth);
  }
  nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error("JSONDecodeError: from_json: invalid JSON text");
  return Convert(j, 0);
}

Result<std::string> DumpJson(const Value& value, const DumpOptions& options) {
  Dumper d{options, options.item_separator.value_or(options.indent ? "," : ", "),
           options.key_separator.value_or(": "), {}};
  MOE_RETURN_IF_ERROR(d.Dump(value, 0));
  return std::move(d.out);
}

}  // namespace moe::jinja
