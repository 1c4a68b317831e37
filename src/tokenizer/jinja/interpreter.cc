// Statement execution and expression evaluation (see interpreter.h). Scoping mirrors the
// code Jinja2 generates: a new Scope per for-iteration, macro call, {% with %} and set / filter
// block; {% if %} writes into the enclosing scope; only namespace() attributes cross scopes.
#include "tokenizer/jinja/interpreter.h"

#include <fmt/format.h>

#include <limits>

#include "tokenizer/jinja/limits.h"

namespace moe::jinja {
namespace {

ScopePtr ChildScope(const ScopePtr& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

// State shared by the loop object's methods across iterations.
struct LoopState {
  size_t index0 = 0;
  std::optional<Value> last_changed;
};

}  // namespace

const Value* Scope::Find(std::string_view name) const {
  if (!index_.empty()) {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &vars_[it->second].second;
  }
  for (const auto& [k, v] : vars_) {
    if (k == name) return &v;
  }
  return nullptr;
}

Value& Scope::operator[](const std::string& name) {
  if (const Value* v = Find(name)) return const_cast<Value&>(*v);
  vars_.emplace_back(name, Value());
  if (vars_.size() > kIndexAt) {
    if (index_.empty()) {
      for (size_t i = 0; i < vars_.size(); ++i) index_.emplace(vars_[i].first, i);
    } else {
      index_.emplace(name, vars_.size() - 1);
    }
  }
  return vars_.back().second;
}

Result<std::string> Interpreter::Render(const NodeList& body, const Value& context,
                                        ErrorInfo* info) {
  root_ = std::make_shared<Scope>();
  if (context.is_dict()) {
    for (const auto& [k, v] : context.dict().items()) {
      if (k.is_string()) (*root_)[k.str()] = v;
    }
  }
  std::string out;
  auto flow = ExecBody(body, root_, out);
  root_.reset();
  if (!flow.ok()) {
    if (info != nullptr) *info = error_;
    return flow.status();
  }
  return out;
}

Status Interpreter::Locate(Status st, int line, int column) {
  if (st.ok() || error_located_) return st;
  error_located_ = true;
  error_.line = line;
  error_.column = column;
  if (error_.raised) return st;
  return Status::Errorf("line {}, column {}: {}", line, column, st.message());
}

Status Interpreter::Raise(std::string message) {
  error_.raised = true;
  return Status::Error(std::move(message));
}

Status Interpreter::ChargeString(size_t bytes) {
  if (bytes > kMaxOutputBytes) {
    return Status::Errorf("string of {} bytes exceeds the limit of {}", bytes, kMaxOutputBytes);
  }
  built_bytes_ += bytes;
  if (built_bytes_ > kMaxBuiltBytes) {
    return Status::Errorf("template built more than {} bytes of strings", kMaxBuiltBytes);
  }
  return Status();
}

Status Interpreter::ChargeItems(size_t items) {
  if (items > kMaxListItems) {
    return Status::Errorf("list of {} items exceeds the limit of {}", items, kMaxListItems);
  }
  built_items_ += items;
  if (built_items_ > kMaxBuiltItems) {
    return Status::Errorf("template built more than {} list items", kMaxBuiltItems);
  }
  return Status();
}

Status Interpreter::CheckOutput(const std::string& out) const {
  if (out.size() > kMaxOutputBytes) {
    return Status::Errorf("rendered output exceeds the limit of {} bytes", kMaxOutputBytes);
  }
  return Status();
}

Value Interpreter::Lookup(const std::string& name, const ScopePtr& scope) const {
  for (const Scope* s = scope.get(); s != nullptr; s = s->parent.get()) {
    if (const Value* v = s->Find(name)) return *v;
  }
  Value g = LookupGlobal(name);
  if (!g.is_undefined()) return g;
  return Value::Undefined(fmt::format("'{}' is undefined", name));
}

// ---- statements ---------------------------------------------------------------------------

Result<Interpreter::Flow> Interpreter::ExecBody(const NodeList& body, const ScopePtr& scope,
                                                std::string& out) {
  for (const NodePtr& node : body) {
    MOE_ASSIGN_OR_RETURN(Flow flow, ExecNode(*node, scope, out));
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Result<Interpreter::Flow> Interpreter::ExecNode(const Node& node, const ScopePtr& scope,
                                                std::string& out) {
  if (depth_ + 1 > kMaxEvalDepth) {
    return Locate(Status::Errorf("evaluation nested deeper than {} levels", kMaxEvalDepth),
                  node.line, node.column);
  }
  ++depth_;
  Result<Flow> result = Flow::kNormal;
  Status st;
  switch (node.kind) {
    case NodeKind::kText:
      out += node.text;
      st = CheckOutput(out);
      break;
    case NodeKind::kOutput: {
      auto v = Eval(*node.expr, scope);
      if (!v.ok()) {
        st = v.status();
      } else {
        out += v->is_string() ? v->str() : v->Str();
        st = CheckOutput(out);
      }
      break;
    }
    case NodeKind::kIf:
      for (const auto& [cond, body] : node.branches) {
        if (cond) {
          auto c = Eval(*cond, scope);
          if (!c.ok()) {
            st = c.status();
            break;
          }
          if (!c->Truthy()) continue;
        }
        result = ExecBody(body, scope, out);
        break;
      }
      break;
    case NodeKind::kFor: result = ExecFor(node, scope, out); break;
    case NodeKind::kSet: {
      auto v = Eval(*node.expr, scope);
      st = v.ok() ? Assign(node.target, *v, scope) : v.status();
      break;
    }
    case NodeKind::kSetBlock:
    case NodeKind::kFilterBlock: {
      std::string buf;
      auto flow = ExecBody(node.body, ChildScope(scope), buf);
      if (!flow.ok()) {
        st = flow.status();
        break;
      }
      Value v = Value::String(std::move(buf));
      if (node.expr) {
        auto filtered = EvalFilter(*node.expr, scope, &v);
        if (!filtered.ok()) {
          st = filtered.status();
          break;
        }
        v = std::move(filtered).value();
      }
      if (node.kind == NodeKind::kSetBlock) {
        st = Assign(node.target, v, scope);
      } else {
        out += v.Str();
        st = CheckOutput(out);
      }
      break;
    }
    case NodeKind::kMacro: (*scope)[node.name] = DefineMacro(node, scope, node.name); break;
    case NodeKind::kCallBlock: {
      const Expr& call = *node.expr;
      auto fn = Eval(*call.args[0], scope);
      auto args = fn.ok() ? EvalCallArgs(call.call, scope) : fn.status();
      if (!args.ok()) {
        st = args.status();
        break;
      }
      args->keyword.emplace_back("caller", DefineMacro(node, scope, "caller"));
      auto r = Call(*fn, *args);
      if (!r.ok()) {
        st = r.status();
      } else {
        out += r->Str();
        st = CheckOutput(out);
      }
      break;
    }
    case NodeKind::kWith: {
      ScopePtr inner = ChildScope(scope);
      for (const auto& [target, value] : node.assignments) {
        auto v = Eval(*value, scope);
        st = v.ok() ? Assign(target, *v, inner) : v.status();
        if (!st.ok()) break;
      }
      if (st.ok()) result = ExecBody(node.body, inner, out);
      break;
    }
    case NodeKind::kScope:
      result = ExecBody(node.body, node.scoped ? ChildScope(scope) : scope, out);
      break;
    case NodeKind::kBreak: result = Flow::kBreak; break;
    case NodeKind::kContinue: result = Flow::kContinue; break;
    case NodeKind::kDo: {
      auto v = Eval(*node.expr, scope);
      if (!v.ok()) st = v.status();
      break;
    }
  }
  --depth_;
  if (!st.ok()) return Locate(st, node.line, node.column);
  if (!result.ok()) return Locate(result.status(), node.line, node.column);
  return result;
}

Result<Interpreter::Flow> Interpreter::ExecFor(const Node& node, const ScopePtr& scope,
                                               std::string& out) {
  MOE_ASSIGN_OR_RETURN(Value iterable, Eval(*node.expr, scope));
  MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(iterable));
  MOE_RETURN_IF_ERROR(RunLoop(node, scope, std::move(items), 1, out));
  return Flow::kNormal;
}

Status Interpreter::RunLoop(const Node& node, const ScopePtr& scope, std::vector<Value> items,
                            int depth, std::string& out) {
  if (node.condition) {  // {% for x in xs if cond %}: filter first, loop.* counts the rest
    std::vector<Value> kept;
    for (Value& item : items) {
      if (++loop_iterations_ > kMaxLoopIterations) {
        return Status::Errorf("template ran more than {} loop iterations", kMaxLoopIterations);
      }
      ScopePtr probe = ChildScope(scope);
      MOE_RETURN_IF_ERROR(Assign(node.target, item, probe));
      MOE_ASSIGN_OR_RETURN(Value keep, Eval(*node.condition, probe));
      if (keep.Truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  const size_t n = items.size();
  if (n == 0) {
    MOE_ASSIGN_OR_RETURN(Flow ignored, ExecBody(node.else_body, scope, out));
    (void)ignored;
    return Status();
  }
  auto state = std::make_shared<LoopState>();
  auto loop = std::make_shared<Object>();
  loop->type_name = "LoopContext";
  const auto& all = items;
  loop->attrs.SetStr("length", Value::Int(static_cast<int64_t>(n)));
  loop->attrs.SetStr("depth", Value::Int(depth));
  loop->attrs.SetStr("depth0", Value::Int(depth - 1));
  loop->attrs.SetStr("cycle", Value::MakeCallable("cycle", [state](Interpreter&, CallArgs& a) {
    if (a.positional.empty()) return Result<Value>(Status::Error("TypeError: no items for cycling given"));
    return Result<Value>(a.positional[state->index0 % a.positional.size()]);
  }));
  loop->attrs.SetStr(
      "changed", Value::MakeCallable("changed", [state](Interpreter&, CallArgs& a) {
        Value v = Value::MakeTuple(a.positional);
        const bool changed = !state->last_changed || !Equals(*state->last_changed, v);
        state->last_changed = std::move(v);
        return Result<Value>(Value::Bool(changed));
      }));
  if (node.recursive) {
    std::weak_ptr<Scope> weak = scope;
    const Node* node_ptr = &node;
    loop->call = [node_ptr, weak, depth](Interpreter& in, CallArgs& a) -> Result<Value> {
      if (a.positional.size() != 1) {
        return Status::Error("TypeError: loop() takes exactly one argument");
      }
      ScopePtr s = weak.lock();
      if (!s) s = in.root_;
      MOE_ASSIGN_OR_RETURN(std::vector<Value> sub, Iterate(a.positional[0]));
      std::string buf;
      MOE_RETURN_IF_ERROR(in.RunLoop(*node_ptr, s, std::move(sub), depth + 1, buf));
      return Value::String(std::move(buf));
    };
  }
  const Value loop_value = Value::MakeObject(loop);
  for (size_t i = 0; i < n; ++i) {
    if (++loop_iterations_ > kMaxLoopIterations) {
      return Status::Errorf("template ran more than {} loop iterations", kMaxLoopIterations);
    }
    state->index0 = i;
    ScopePtr it = ChildScope(scope);
    MOE_RETURN_IF_ERROR(Assign(node.target, all[i], it));
    Dict& attrs = loop->attrs;
    attrs.SetStr("index0", Value::Int(static_cast<int64_t>(i)));
    attrs.SetStr("index", Value::Int(static_cast<int64_t>(i + 1)));
    attrs.SetStr("revindex", Value::Int(static_cast<int64_t>(n - i)));
    attrs.SetStr("revindex0", Value::Int(static_cast<int64_t>(n - i - 1)));
    attrs.SetStr("first", Value::Bool(i == 0));
    attrs.SetStr("last", Value::Bool(i + 1 == n));
    attrs.SetStr("previtem", i > 0 ? all[i - 1] : Value::Undefined("there is no previous item"));
    attrs.SetStr("nextitem", i + 1 < n ? all[i + 1] : Value::Undefined("there is no next item"));
    (*it)["loop"] = loop_value;
    MOE_ASSIGN_OR_RETURN(Flow flow, ExecBody(node.body, it, out));
    if (flow == Flow::kBreak) break;
  }
  return Status();
}

Status Interpreter::Assign(const Target& target, const Value& value, const ScopePtr& scope) {
  switch (target.kind) {
    case Target::Kind::kName: (*scope)[target.name] = value; return Status();
    case Target::Kind::kAttr: {
      Value obj = Lookup(target.object->name, scope);
      if (!obj.is_object() || !obj.object().assignable) {
        return Status::Errorf("TypeError: cannot assign attribute '{}' on non-namespace object",
                              target.name);
      }
      if (Reaches(value, obj.identity())) {
        return Status::Error("ValueError: refusing to create a reference cycle");
      }
      obj.object().attrs.SetStr(target.name, value);
      return Status();
    }
    case Target::Kind::kTuple: {
      MOE_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(value));
      if (items.size() != target.items.size()) {
        return Status::Errorf("ValueError: cannot unpack {} values into {} names", items.size(),
                              target.items.size());
      }
      for (size_t i = 0; i < items.size(); ++i) {
        MOE_RETURN_IF_ERROR(Assign(target.items[i], items[i], scope));
      }
      return Status();
    }
  }
  return Status();
}

Value Interpreter::DefineMacro(const Node& node, const ScopePtr& scope, const std::string& name) {
  // The macro sees its defining scope at call time. It holds that scope weakly: a macro
  // stored in the scope it closes over must not keep it alive forever.
  std::weak_ptr<Scope> weak = scope;
  const Node* node_ptr = &node;
  return Value::MakeCallable(name, [node_ptr, weak, name](Interpreter& in, CallArgs& args) {
    return in.CallMacro(*node_ptr, weak, name, args);
  });
}

Result<Value> Interpreter::CallMacro(const Node& node, const std::weak_ptr<Scope>& closure,
                                     const std::string& name, CallArgs& args) {
  if (macro_depth_ + 1 > kMaxMacroDepth) {
    return Status::Errorf("macro '{}': calls nested deeper than {} levels", name,
                          kMaxMacroDepth);
  }
  ScopePtr parent = closure.lock();
  if (!parent) parent = root_;
  ScopePtr s = ChildScope(parent);
  const size_t np = node.params.size();
  std::vector<bool> bound(np, false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < np) {
      (*s)[node.params[i].first] = args.positional[i];
      bound[i] = true;
    } else {
      varargs.push_back(args.positional[i]);
    }
  }
  Value kwargs = Value::MakeDict();
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < np && node.params[i].first != key) ++i;
    if (i < np) {
      if (bound[i]) {
        return Status::Errorf("TypeError: macro '{}' got multiple values for argument '{}'",
                              name, key);
      }
      (*s)[key] = value;
      bound[i] = true;
    } else if (key == "caller") {
      (*s)["caller"] = value;
    } else {
      kwargs.dict().SetStr(key, value);
    }
  }
  for (size_t i = 0; i < np; ++i) {
    if (bound[i]) continue;
    const auto& [pname, def] = node.params[i];
    if (def) {
      MOE_ASSIGN_OR_RETURN((*s)[pname], Eval(*def, s));
    } else {
      (*s)[pname] = Value::Undefined(fmt::format("parameter '{}' was not provided", pname));
    }
  }
  (*s)["varargs"] = Value::MakeTuple(std::move(varargs));
  (*s)["kwargs"] = std::move(kwargs);
  ++macro_depth_;
  std::string buf;
  auto flow = ExecBody(node.body, s, buf);
  --macro_depth_;
  if (!flow.ok()) return flow.status();
  MOE_RETURN_IF_ERROR(ChargeString(buf.size()));
  return Value::String(std::move(buf));
}

// ---- expressions --------------------------------------------------------------------------

Result<Value> Interpreter::Eval(const Expr& e, const ScopePtr& scope) {
  if (depth_ + 1 > kMaxEvalDepth) {
    return Locate(Status::Errorf("evaluation nested deeper than {} levels", kMaxEvalDepth),
                  e.line, e.column);
  }
  ++depth_;
  Result<Value> r = EvalInner(e, scope);
  --depth_;
  if (!r.ok()) return Locate(r.status(), e.line, e.column);
  return r;
}

Result<CallArgs> Interpreter::EvalCallArgs(const CallSpec& spec, const ScopePtr& scope) {
  CallArgs args;
  for (const ExprPtr& p : spec.positional) {
    MOE_ASSIGN_OR_RETURN(Value v, Eval(*p, scope));
    args.positional.push_back(std::move(v));
  }
  for (const auto& [key, expr] : spec.keyword) {
    MOE_ASSIGN_OR_RETURN(Value v, Eval(*expr, scope));
    args.keyword.emplace_back(key, std::move(v));
  }
  if (spec.star_args) {
    MOE_ASSIGN_OR_RETURN(Value v, Eval(*spec.star_args, scope));
    MOE_ASSIGN_OR_RETURN(std::vector<Value> extra, Iterate(v));
    for (Value& x : extra) args.positional.push_back(std::move(x));
  }
  if (spec.star_kwargs) {
    MOE_ASSIGN_OR_RETURN(Value v, Eval(*spec.star_kwargs, scope));
    if (!v.is_dict()) return Status::Error("TypeError: argument after ** must be a mapping");
    for (const auto& [k, x] : v.dict().items()) {
      if (!k.is_string()) return Status::Error("TypeError: keywords must be strings");
      args.keyword.emplace_back(k.str(), x);
    }
  }
  return args;
}

Result<Value> Interpreter::Call(const Value& callee, CallArgs& args) {
  if (++calls_ > kMaxCalls) {
    return Status::Errorf("template made more than {} calls", kMaxCalls);
  }
  if (callee.is_callable()) return callee.callable().fn(*this, args);
  if (callee.is_object() && callee.object().call) return callee.object().call(*this, args);
  if (callee.is_undefined()) return Status::Errorf("UndefinedError: {}", callee.str().empty() ? "undefined value called" : callee.str());
  return Status::Errorf("TypeError: '{}' object is not callable", callee.TypeName());
}

Result<Value> Interpreter::EvalCall(const Expr& e, const ScopePtr& scope) {
  const Expr& callee = *e.args[0];
  if (callee.kind == ExprKind::kGetAttr) {  // obj.method(...): no bound-method object needed
    MOE_ASSIGN_OR_RETURN(Value obj, Eval(*callee.args[0], scope));
    MOE_ASSIGN_OR_RETURN(CallArgs args, EvalCallArgs(e.call, scope));
    if (HasMethod(obj, callee.name)) {
      if (++calls_ > kMaxCalls) return Status::Errorf("template made more than {} calls", kMaxCalls);
      return CallMethod(*this, obj, callee.name, args);
    }
    MOE_ASSIGN_OR_RETURN(Value fn, GetAttr(obj, callee.name));
    return Call(fn, args);
  }
  MOE_ASSIGN_OR_RETURN(Value fn, Eval(callee, scope));
  MOE_ASSIGN_OR_RETURN(CallArgs args, EvalCallArgs(e.call, scope));
  return Call(fn, args);
}

Result<Value> Interpreter::EvalFilter(const Expr& e, const ScopePtr& scope,
                                      const Value* block_operand) {
  Value operand;
  const Expr* inner = e.args[0].get();
  if (inner == nullptr) {
    if (block_operand == nullptr) return Status::Error("filter without an operand");
    operand = *block_operand;
  } else if (block_operand != nullptr && inner->kind == ExprKind::kFilter) {
    MOE_ASSIGN_OR_RETURN(operand, EvalFilter(*inner, scope, block_operand));
  } else {
    MOE_ASSIGN_OR_RETURN(operand, Eval(*inner, scope));
  }
  MOE_ASSIGN_OR_RETURN(CallArgs args, EvalCallArgs(e.call, scope));
  return ApplyFilter(e.name, operand, args);
}

Result<Value> Interpreter::EvalCompare(const Expr& e, const ScopePtr& scope) {
  MOE_ASSIGN_OR_RETURN(Value left, Eval(*e.args[0], scope));
  for (size_t i = 0; i < e.ops.size(); ++i) {
    MOE_ASSIGN_OR_RETURN(Value right, Eval(*e.args[i + 1], scope));
    MOE_ASSIGN_OR_RETURN(bool ok, CompareOp(e.ops[i], left, right));
    if (!ok) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

Result<Value> Interpreter::EvalInner(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::kLiteral: return e.literal;
    case ExprKind::kName: return Lookup(e.name, scope);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      MOE_RETURN_IF_ERROR(ChargeItems(e.args.size()));
      std::vector<Value> items;
      items.reserve(e.args.size());
      for (const ExprPtr& a : e.args) {
        MOE_ASSIGN_OR_RETURN(Value v, Eval(*a, scope));
        items.push_back(std::move(v));
      }
      return e.kind == ExprKind::kList ? Value::MakeList(std::move(items))
                                       : Value::MakeTuple(std::move(items));
    }
    case ExprKind::kDict: {
      MOE_RETURN_IF_ERROR(ChargeItems(e.args.size() / 2));
      Value d = Value::MakeDict();
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        MOE_ASSIGN_OR_RETURN(Value k, Eval(*e.args[i], scope));
        MOE_ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1], scope));
        MOE_RETURN_IF_ERROR(d.dict().Set(k, std::move(v)));
      }
      return d;
    }
    case ExprKind::kGetAttr: {
      MOE_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
      return GetAttr(obj, e.name);
    }
    case ExprKind::kGetItem: {
      MOE_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
      MOE_ASSIGN_OR_RETURN(Value key, Eval(*e.args[1], scope));
      return GetItem(obj, key);
    }
    case ExprKind::kSlice: {
      MOE_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
      Value parts[3] = {Value::None(), Value::None(), Value::None()};
      for (int i = 0; i < 3; ++i) {
        if (e.args[i + 1]) {
          MOE_ASSIGN_OR_RETURN(parts[i], Eval(*e.args[i + 1], scope));
        }
      }
      return SliceValue(obj, parts[0], parts[1], parts[2]);
    }
    case ExprKind::kCall: return EvalCall(e, scope);
    case ExprKind::kFilter: return EvalFilter(e, scope, nullptr);
    case ExprKind::kTest: {
      MOE_ASSIGN_OR_RETURN(Value operand, Eval(*e.args[0], scope));
      MOE_ASSIGN_OR_RETURN(CallArgs args, EvalCallArgs(e.call, scope));
      MOE_ASSIGN_OR_RETURN(bool r, ApplyTest(e.name, operand, args));
      return Value::Bool(r != e.negated);
    }
    case ExprKind::kUnary: {
      MOE_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0], scope));
      if (e.name == "not") return Value::Bool(!v.Truthy());
      if (v.is_undefined()) return Status::Errorf("UndefinedError: {}", v.str().empty() ? "undefined value" : v.str());
      if (e.name == "+" && v.is_number()) return v.is_float() ? v : Value::Int(v.int_value());
      if (v.is_float()) return Value::Float(-v.float_value());
      if (v.is_int() || v.is_bool()) {
        if (v.int_value() == std::numeric_limits<int64_t>::min()) {
          return Status::Error("OverflowError: integer negation overflows");
        }
        return Value::Int(-v.int_value());
      }
      return Status::Errorf("TypeError: bad operand type for unary {}: '{}'", e.name,
                            v.TypeName());
    }
    case ExprKind::kBinary: {
      MOE_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0], scope));
      if (e.name == "and") return a.Truthy() ? Eval(*e.args[1], scope) : Result<Value>(a);
      if (e.name == "or") return a.Truthy() ? Result<Value>(a) : Eval(*e.args[1], scope);
      MOE_ASSIGN_OR_RETURN(Value b, Eval(*e.args[1], scope));
      return BinaryOp(*this, e.name, a, b);
    }
    case ExprKind::kCompare: return EvalCompare(e, scope);
    case ExprKind::kCondExpr: {
      MOE_ASSIGN_OR_RETURN(Value cond, Eval(*e.args[1], scope));
      if (cond.Truthy()) return Eval(*e.args[0], scope);
      if (e.args[2]) return Eval(*e.args[2], scope);
      return Value::Undefined("the inline if-expression evaluated to false and has no else");
    }
  }
  return Status::Error("internal error: unknown expression kind");
}

// ---- filters and tests --------------------------------------------------------------------

bool Interpreter::HasFilter(std::string_view name) const {
  return Filters().count(name) != 0 || TextFilters().count(name) != 0;
}

bool Interpreter::HasTest(std::string_view name) const { return Tests().count(name) != 0; }

Result<Value> Interpreter::ApplyFilter(std::string_view name, const Value& operand,
                                       CallArgs& args) {
  if (auto it = Filters().find(name); it != Filters().end()) return it->second(*this, operand, args);
  if (auto it = TextFilters().find(name); it != TextFilters().end()) {
    return it->second(*this, operand, args);
  }
  return Status::Errorf("TemplateAssertionError: no filter named '{}'", name);
}

Result<bool> Interpreter::ApplyTest(std::string_view name, const Value& operand,
                                    CallArgs& args) {
  auto it = Tests().find(name);
  if (it == Tests().end()) return Status::Errorf("TemplateAssertionError: no test named '{}'", name);
  return it->second(*this, operand, args);
}

}  // namespace moe::jinja
