// Python semantics of the Jinja value model (see value.h).
#include "tokenizer/jinja/value.h"

#include <fmt/format.h>

#include <cmath>
#include <unordered_set>

#include "tokenizer/jinja/limits.h"
#include "tokenizer/jinja/py_string.h"

namespace moe::jinja {
namespace {

// Values whose last reference is being dropped while another container is being released.
// Destructors of List and Dict move their children here instead of destroying them in place,
// and the outermost release drains the stack in a loop: destruction depth stays O(1).
thread_local std::vector<Value> pending_release;
thread_local bool releasing = false;

template <typename Move>
void ReleaseIteratively(Move move_children) {
  move_children(pending_release);
  if (releasing) return;
  releasing = true;
  while (!pending_release.empty()) {
    Value v = std::move(pending_release.back());
    pending_release.pop_back();
  }  // `v` dies here; a container it held alone pushes its own children above
  releasing = false;
}

}  // namespace

List::~List() {
  if (items.empty()) return;
  ReleaseIteratively([this](std::vector<Value>& out) {
    for (Value& v : items) {
      if (v.is_list() || v.is_dict() || v.is_object() || v.is_callable()) out.push_back(std::move(v));
    }
  });
}

Dict::~Dict() {
  if (items_.empty()) return;
  ReleaseIteratively([this](std::vector<Value>& out) {
    for (auto& [k, v] : items_) {
      if (k.is_list()) out.push_back(std::move(k));
      if (v.is_list() || v.is_dict() || v.is_object() || v.is_callable()) out.push_back(std::move(v));
    }
  });
}

Value Value::Undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.s_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::None() {
  Value v;
  v.type_ = Type::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.b_ = b;
  v.i_ = b ? 1 : 0;
  v.d_ = b ? 1 : 0;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.type_ = Type::kInt;
  v.i_ = i;
  v.d_ = static_cast<double>(i);
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.type_ = Type::kFloat;
  v.d_ = d;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::MakeList(std::vector<Value> items) {
  Value v;
  v.type_ = Type::kList;
  v.list_ = std::make_shared<List>();
  v.list_->items = std::move(items);
  return v;
}

Value Value::MakeTuple(std::vector<Value> items) {
  Value v = MakeList(std::move(items));
  v.list_->is_tuple = true;
  return v;
}

Value Value::MakeDict() { return MakeDict(std::make_shared<Dict>()); }

Value Value::MakeDict(std::shared_ptr<Dict> d) {
  Value v;
  v.type_ = Type::kDict;
  v.dict_ = std::move(d);
  return v;
}

Value Value::MakeObject(std::shared_ptr<Object> o) {
  Value v;
  v.type_ = Type::kObject;
  v.object_ = std::move(o);
  return v;
}

Value Value::MakeCallable(std::string name, NativeFn fn) {
  Value v;
  v.type_ = Type::kCallable;
  v.callable_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

double Value::AsDouble() const { return is_float() ? d_ : static_cast<double>(i_); }

const void* Value::identity() const {
  switch (type_) {
    case Type::kList: return list_.get();
    case Type::kDict: return dict_.get();
    case Type::kObject: return object_.get();
    case Type::kCallable: return callable_.get();
    default: return nullptr;
  }
}

bool Value::Truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone: return false;
    case Type::kBool: return b_;
    case Type::kInt: return i_ != 0;
    case Type::kFloat: return d_ != 0;
    case Type::kString: return !s_->empty();
    case Type::kList: return !list_->items.empty();
    case Type::kDict: return dict_->size() != 0;
    case Type::kObject:
    case Type::kCallable: return true;
  }
  return false;
}

std::string Value::Str() const {
  switch (type_) {
    case Type::kUndefined: return "";
    case Type::kString: return *s_;
    default: return Repr();
  }
}

std::string Value::Repr(int depth) const {
  if (depth > kMaxValueDepth) return "...";
  switch (type_) {
    case Type::kUndefined: return "Undefined";
    case Type::kNone: return "None";
    case Type::kBool: return b_ ? "True" : "False";
    case Type::kInt: return std::to_string(i_);
    case Type::kFloat: return PyFloatRepr(d_);
    case Type::kString: return PyStrRepr(*s_);
    case Type::kList: {
      std::string out = list_->is_tuple ? "(" : "[";
      for (size_t i = 0; i < list_->items.size(); ++i) {
        if (i) out += ", ";
        out += list_->items[i].Repr(depth + 1);
      }
      if (list_->is_tuple && list_->items.size() == 1) out += ",";
      out += list_->is_tuple ? ")" : "]";
      return out;
    }
    case Type::kDict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : dict_->items()) {
        if (!first) out += ", ";
        first = false;
        out += k.Repr(depth + 1) + ": " + v.Repr(depth + 1);
      }
      return out + "}";
    }
    case Type::kObject: {
      if (object_->type_name == "Namespace") {
        std::string out = "<Namespace {";
        bool first = true;
        for (const auto& [k, v] : object_->attrs.items()) {
          if (!first) out += ", ";
          first = false;
          out += k.Repr(depth + 1) + ": " + v.Repr(depth + 1);
        }
        return out + "}>";
      }
      return "<" + object_->type_name + " object>";
    }
    case Type::kCallable: return "<function " + callable_->name + ">";
  }
  return "";
}

std::string Value::TypeName() const {
  switch (type_) {
    case Type::kUndefined: return "Undefined";
    case Type::kNone: return "NoneType";
    case Type::kBool: return "bool";
    case Type::kInt: return "int";
    case Type::kFloat: return "float";
    case Type::kString: return "str";
    case Type::kList: return list_->is_tuple ? "tuple" : "list";
    case Type::kDict: return "dict";
    case Type::kObject: return object_->type_name;
    case Type::kCallable: return "function";
  }
  return "object";
}

Result<std::string> Value::HashKey(int depth) const {
  if (depth > kMaxValueDepth) return Status::Error("ValueError: value nested too deeply");
  switch (type_) {
    case Type::kNone: return std::string("N");
    case Type::kBool:
    case Type::kInt: return fmt::format("n{}", i_);
    case Type::kFloat:
      if (std::isfinite(d_) && d_ == std::floor(d_) && std::fabs(d_) < 9.2e18) {
        return fmt::format("n{}", static_cast<int64_t>(d_));
      }
      return fmt::format("f{}", PyFloatRepr(d_));
    case Type::kString: return fmt::format("s{}", *s_);
    case Type::kList:
      if (list_->is_tuple) {
        std::string key = "t(";
        for (const Value& item : list_->items) {
          MOE_ASSIGN_OR_RETURN(std::string k, item.HashKey(depth + 1));
          key += fmt::format("{}:{}", k.size(), k);
        }
        return key + ")";
      }
      break;
    case Type::kObject:
    case Type::kCallable: return fmt::format("o{}", identity());
    default: break;
  }
  return Status::Errorf("TypeError: unhashable type: '{}'", TypeName());
}

const Value* Dict::Find(const Value& key) const {
  if (key.is_string()) return FindStr(key.str());
  auto hk = key.HashKey();
  if (!hk.ok()) return nullptr;
  auto it = other_index_.find(*hk);
  return it == other_index_.end() ? nullptr : &items_[it->second].second;
}

const Value* Dict::FindStr(std::string_view key) const {
  auto it = str_index_.find(key);
  return it == str_index_.end() ? nullptr : &items_[it->second].second;
}

Status Dict::Set(const Value& key, Value value) {
  if (key.is_string()) {
    SetStr(key.str(), std::move(value));
    return Status();
  }
  MOE_ASSIGN_OR_RETURN(std::string hk, key.HashKey());
  auto [it, inserted] = other_index_.emplace(std::move(hk), items_.size());
  if (inserted) {
    items_.emplace_back(key, std::move(value));
  } else {
    items_[it->second].second = std::move(value);
  }
  return Status();
}

void Dict::SetStr(const std::string& key, Value value) {
  if (auto it = str_index_.find(std::string_view(key)); it != str_index_.end()) {
    items_[it->second].second = std::move(value);
    return;
  }
  str_index_.emplace(key, items_.size());
  items_.emplace_back(Value::String(key), std::move(value));
}

void Dict::Reindex() {
  str_index_.clear();
  other_index_.clear();
  for (size_t i = 0; i < items_.size(); ++i) {
    const Value& k = items_[i].first;
    if (k.is_string()) {
      str_index_.emplace(k.str(), i);
    } else {
      other_index_.emplace(k.HashKey().value(), i);
    }
  }
}

bool Dict::Erase(const Value& key) {
  size_t pos = 0;
  if (key.is_string()) {
    auto it = str_index_.find(std::string_view(key.str()));
    if (it == str_index_.end()) return false;
    pos = it->second;
  } else {
    auto hk = key.HashKey();
    if (!hk.ok()) return false;
    auto it = other_index_.find(*hk);
    if (it == other_index_.end()) return false;
    pos = it->second;
  }
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(pos));
  Reindex();
  return true;
}

void Dict::Clear() {
  items_.clear();
  str_index_.clear();
  other_index_.clear();
}

bool Reaches(const Value& from, const void* target) {
  std::vector<const Value*> stack = {&from};
  std::unordered_set<const void*> seen;
  // Bounded walk: values larger than kReachBudget containers are not searched to the end,
  // so a hostile template can still leak a cycle hidden that deep (memory stays bounded by
  // the render's item limits); real templates store small values.
  constexpr size_t kReachBudget = 256;
  while (!stack.empty() && seen.size() < kReachBudget) {
    const Value* v = stack.back();
    stack.pop_back();
    const void* id = v->identity();
    if (id == nullptr || v->is_callable()) continue;
    if (id == target) return true;
    if (!seen.insert(id).second) continue;
    if (v->is_list()) {
      for (const Value& x : v->list().items) stack.push_back(&x);
    } else {
      const Dict& d = v->is_dict() ? v->dict() : v->object().attrs;
      for (const auto& [k, x] : d.items()) stack.push_back(&x);
    }
  }
  return false;
}

bool Equals(const Value& a, const Value& b, int depth) {
  using T = Value::Type;
  if (depth > kMaxValueDepth) return false;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.AsDouble() == b.AsDouble();
    return a.int_value() == b.int_value();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::kUndefined:
    case T::kNone: return true;
    case T::kString: return a.str() == b.str();
    case T::kList: {
      const auto& x = a.list().items;
      const auto& y = b.list().items;
      if (a.list().is_tuple != b.list().is_tuple || x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i], depth + 1)) return false;
      }
      return true;
    }
    case T::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict().items()) {
        const Value* other = b.dict().Find(k);
        if (other == nullptr || !Equals(v, *other, depth + 1)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

Result<int> Compare(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) return Status::Error("ValueError: value nested too deeply");
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.AsDouble(), y = b.AsDouble();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return a.int_value() < b.int_value() ? -1 : (a.int_value() > b.int_value() ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.str().compare(b.str());  // UTF-8 byte order == code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.list().is_tuple == b.list().is_tuple) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i], depth + 1)) continue;
      return Compare(x[i], y[i], depth + 1);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  if (a.is_undefined() || b.is_undefined()) {
    return Status::Error("UndefinedError: cannot compare an undefined value");
  }
  return Status::Errorf("TypeError: '<' not supported between instances of '{}' and '{}'",
                        a.TypeName(), b.TypeName());
}

}  // namespace moe::jinja
