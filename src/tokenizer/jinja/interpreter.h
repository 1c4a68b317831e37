// The Jinja evaluator: renders a parsed template against a context with Jinja2's scoping
// (every for-iteration and macro call opens a scope, {% if %} does not), Python value
// semantics, and the resource limits of limits.h. Also declares the pieces the evaluator is
// built from (operators, Python methods, filters, tests, globals), each in its own file.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/value.h"

namespace moe::jinja {

struct RenderConfig {
  // Wall-clock time strftime_now() formats, as naive local time expressed in seconds since
  // 1970-01-01T00:00:00 (no time zone is applied). nullopt: the current local time.
  std::optional<std::chrono::sys_seconds> now;
};

// Where a failed render stopped. `raised` marks raise_exception(); its message is verbatim.
struct ErrorInfo {
  bool raised = false;
  int line = 0;
  int column = 0;
};

// Variables of one scope. Most scopes (a loop iteration, a macro call) hold a handful of
// names, so they are a flat vector; an index is added once a scope grows past kIndexAt.
class Scope {
 public:
  std::shared_ptr<Scope> parent;

  const Value* Find(std::string_view name) const;  // this scope only
  Value& operator[](const std::string& name);       // this scope; inserts undefined

 private:
  static constexpr size_t kIndexAt = 16;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::pair<std::string, Value>> vars_;
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> index_;
};
using ScopePtr = std::shared_ptr<Scope>;

class Interpreter {
 public:
  explicit Interpreter(const RenderConfig& config) : config_(config) {}

  // Renders `body` with every key of `context` (a dict) as a top-level variable. On failure
  // `info` (optional) says where and whether raise_exception() was called.
  Result<std::string> Render(const NodeList& body, const Value& context, ErrorInfo* info);

  // ---- services for operators, methods, filters and tests ----
  Result<Value> Call(const Value& callee, CallArgs& args);
  Result<Value> ApplyFilter(std::string_view name, const Value& operand, CallArgs& args);
  Result<bool> ApplyTest(std::string_view name, const Value& operand, CallArgs& args);
  bool HasFilter(std::string_view name) const;
  bool HasTest(std::string_view name) const;
  // Accounts for `bytes` of newly built string data; fails when one string exceeds
  // kMaxOutputBytes or the render has built more than kMaxBuiltBytes in total.
  Status ChargeString(size_t bytes);
  // Accounts for `items` newly built list elements (kMaxListItems per list, kMaxBuiltItems
  // per render).
  Status ChargeItems(size_t items);
  // raise_exception(): the render fails with exactly `message`.
  Status Raise(std::string message);
  const RenderConfig& config() const { return config_; }

 private:
  enum class Flow : uint8_t { kNormal, kBreak, kContinue };

  Result<Flow> ExecBody(const NodeList& body, const ScopePtr& scope, std::string& out);
  Result<Flow> ExecNode(const Node& node, const ScopePtr& scope, std::string& out);
  Result<Flow> ExecFor(const Node& node, const ScopePtr& scope, std::string& out);
  Status RunLoop(const Node& node, const ScopePtr& scope, std::vector<Value> items, int depth,
                 std::string& out);
  Status Assign(const Target& target, const Value& value, const ScopePtr& scope);
  Value DefineMacro(const Node& node, const ScopePtr& scope, const std::string& name);
  Result<Value> CallMacro(const Node& node, const std::weak_ptr<Scope>& closure,
                          const std::string& name, CallArgs& args);

  Result<Value> Eval(const Expr& e, const ScopePtr& scope);
  Result<Value> EvalInner(const Expr& e, const ScopePtr& scope);
  Result<CallArgs> EvalCallArgs(const CallSpec& spec, const ScopePtr& scope);
  Result<Value> EvalCall(const Expr& e, const ScopePtr& scope);
  Result<Value> EvalFilter(const Expr& e, const ScopePtr& scope, const Value* block_operand);
  Result<Value> EvalCompare(const Expr& e, const ScopePtr& scope);
  Value Lookup(const std::string& name, const ScopePtr& scope) const;
  Status Locate(Status st, int line, int column);
  Status CheckOutput(const std::string& out) const;

  RenderConfig config_;
  ScopePtr root_;
  int depth_ = 0;
  int macro_depth_ = 0;
  int64_t loop_iterations_ = 0;
  int64_t calls_ = 0;
  size_t built_bytes_ = 0;
  size_t built_items_ = 0;
  bool error_located_ = false;
  ErrorInfo error_;
};

// ---- operators.cc: Python operators and Jinja attribute / item access -------------------

// a <op> b for + - * / // % ** ~ (undefined operands fail, except with ~).
Result<Value> BinaryOp(Interpreter& in, std::string_view op, const Value& a, const Value& b);
// ==, !=, <, <=, >, >=, in, notin.
Result<bool> CompareOp(std::string_view op, const Value& a, const Value& b);
// `item in container`.
Result<bool> Contains(const Value& container, const Value& item);
// obj.name: attribute first (methods of str, list, dict), then item; else undefined.
Result<Value> GetAttr(const Value& obj, const std::string& name);
// obj[key]: item first, then attribute; else undefined.
Result<Value> GetItem(const Value& obj, const Value& key);
// obj[start:stop:step] with Python semantics (null parts are None).
Result<Value> SliceValue(const Value& obj, const Value& start, const Value& stop,
                         const Value& step);
// list(value): items of a list/tuple, keys of a dict, code points of a string; undefined is
// empty; None and numbers fail with TypeError.
Result<std::vector<Value>> Iterate(const Value& value);
// Jinja's make_attrgetter: "a.b.0" looked up item-first, step by step.
Result<Value> GetAttrPath(const Value& obj, const std::string& path);

// ---- methods.cc: Python methods of str, list and dict -----------------------------------

bool HasMethod(const Value& obj, const std::string& name);
Result<Value> CallMethod(Interpreter& in, const Value& obj, const std::string& name,
                         CallArgs& args);
// A callable bound to obj.name (for `x = s.upper` without a call).
Value BoundMethod(const Value& obj, const std::string& name);

// ---- builtins.cc: global functions -------------------------------------------------------

// range, dict, namespace, cycler, joiner, raise_exception, strftime_now; undefined if none.
Value LookupGlobal(const std::string& name);
// Python time.strftime(fmt) in the C locale, at `seconds` (naive local time since epoch).
Result<std::string> StrftimeNaive(std::string_view fmt, int64_t seconds);

// ---- args.cc: binding call arguments to parameters ---------------------------------------

struct Param {
  std::string_view name;
  std::optional<Value> default_value;  // nullopt: required
};
// Binds positional then keyword arguments to `params` as Python would (unknown keywords,
// duplicates, missing required arguments and extra positional arguments fail).
Result<std::vector<Value>> BindArgs(std::string_view function, const CallArgs& args,
                                    std::initializer_list<Param> params);

// ---- filters.cc / filters_text.cc, is_tests.cc -------------------------------------------

using FilterFn = Result<Value> (*)(Interpreter&, const Value&, CallArgs&);
using TestFn = Result<bool> (*)(Interpreter&, const Value&, CallArgs&);
const std::unordered_map<std::string_view, FilterFn>& Filters();
const std::unordered_map<std::string_view, FilterFn>& TextFilters();
const std::unordered_map<std::string_view, TestFn>& Tests();

}  // namespace moe::jinja
