// JSON <-> Value: the render context (nlohmann JSON, mapped as Python's json module maps it),
// Python json.dumps for the tojson filter, and json.loads for from_json.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "tokenizer/jinja/value.h"

namespace moe::jinja {

// Objects keep their key order (use ordered_json to keep the order of a file); integers stay
// integers, other numbers become floats. Fails when nested deeper than kMaxValueDepth.
Result<Value> FromJson(const nlohmann::ordered_json& j);
Result<Value> FromJson(const nlohmann::json& j);

// Python json.loads(text).
Result<Value> ParseJson(std::string_view text);

// Arguments of Python's json.dumps.
struct DumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // nullopt: single line
  std::optional<std::string> item_separator;  // default ", " (or "," with indent)
  std::optional<std::string> key_separator;   // default ": "
  bool sort_keys = false;
};

// Python json.dumps(value, ...). Tuples serialize as arrays; undefined, objects and callables
// fail ("Object of type ... is not JSON serializable").
Result<std::string> DumpJson(const Value& value, const DumpOptions& options);

}  // namespace moe::jinja
