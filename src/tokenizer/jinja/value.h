// The value model of the Jinja interpreter: Python-like values (undefined, None, bool, int,
// float, str, list/tuple, ordered dict, objects such as namespace() and loop, callables) with
// Python's truthiness, equality, ordering, str() and repr().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"

namespace moe::jinja {

class Value;
class Dict;
class Interpreter;
struct List;
struct Object;
struct Callable;

// Arguments of a call: positional values, then keyword arguments in call order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFn = std::function<Result<Value>(Interpreter&, CallArgs&)>;

class Value {
 public:
  enum class Type : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,      // list or tuple (List::is_tuple)
    kDict,      // insertion-ordered dict
    kObject,    // namespace(), loop, cycler, joiner: attribute bags
    kCallable,  // macros, global functions, bound methods
  };

  Value() = default;  // undefined
  static Value Undefined(std::string hint = {});
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value String(std::string s);
  static Value MakeList(std::vector<Value> items = {});
  static Value MakeTuple(std::vector<Value> items);
  static Value MakeDict();
  static Value MakeDict(std::shared_ptr<Dict> d);
  static Value MakeObject(std::shared_ptr<Object> o);
  static Value MakeCallable(std::string name, NativeFn fn);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_float() const { return type_ == Type::kFloat; }
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_callable() const { return type_ == Type::kCallable; }

  bool bool_value() const { return b_; }
  int64_t int_value() const { return i_; }  // also valid for bool (0 / 1)
  double float_value() const { return d_; }
  // Numeric value of a bool, int or float as double.
  double AsDouble() const;
  const std::string& str() const { return *s_; }  // string; undefined: its hint
  List& list() const { return *list_; }
  Dict& dict() const { return *dict_; }
  Object& object() const { return *object_; }
  const Callable& callable() const { return *callable_; }
  const std::shared_ptr<Dict>& dict_ptr() const { return dict_; }
  const std::shared_ptr<Object>& object_ptr() const { return object_; }
  // Identity of a mutable container (for `is sameas`); null for scalars.
  const void* identity() const;

  // Python truthiness (undefined is falsy).
  bool Truthy() const;
  // Python str(): what {{ x }}, |string and ~ print. Undefined prints as ''.
  std::string Str() const;
  // Python repr(): used for items inside str() of lists and dicts. Containers nested deeper
  // than kMaxValueDepth (or cyclic) print as '...'.
  std::string Repr(int depth = 0) const;
  // Python type name for error messages ('str', 'int', 'NoneType', 'list', ...).
  std::string TypeName() const;
  // Canonical hash key (Python dict semantics: 1, 1.0 and True are the same key); fails for
  // unhashable values (list, dict).
  Result<std::string> HashKey(int depth = 0) const;

 private:
  Type type_ = Type::kUndefined;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Object> object_;
  std::shared_ptr<const Callable> callable_;
};

// Containers release their children iteratively (see ReleaseIteratively in value.cc), so
// a list nested a million levels deep is freed without a million-frame recursion.
struct List {
  List() = default;
  List(const List&) = delete;
  List& operator=(const List&) = delete;
  ~List();
  std::vector<Value> items;
  bool is_tuple = false;
};

// Insertion-ordered dict keyed by hashable values (usually strings).
class Dict {
 public:
  Dict() = default;
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;
  ~Dict();
  const Value* Find(const Value& key) const;
  const Value* FindStr(std::string_view key) const;
  Status Set(const Value& key, Value value);
  void SetStr(const std::string& key, Value value);
  // Removes `key`; returns false when absent.
  bool Erase(const Value& key);
  void Clear();
  size_t size() const { return items_.size(); }
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  void Reindex();

  std::vector<std::pair<Value, Value>> items_;
  // Position in items_ of each key: string keys by their text (looked up without copying),
  // other keys by HashKey().
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> str_index_;
  std::unordered_map<std::string, size_t> other_index_;
};

// An attribute bag: namespace() (assignable attributes), loop, cycler, joiner.
struct Object {
  std::string type_name;  // "Namespace", "LoopContext", ...
  bool assignable = false;  // only namespace() accepts {% set ns.attr = ... %}
  Dict attrs;
  NativeFn call;  // when set the object is callable (recursive loop(), joiner())
};

struct Callable {
  std::string name;
  NativeFn fn;
};

// True when `target` (a container's identity) can be reached from `from` through lists,
// dicts and objects (searching at most 256 containers). Mutations refuse to store a value
// that reaches its own container: shared_ptr cycles would never be freed.
bool Reaches(const Value& from, const void* target);

// Python == (deep for lists and dicts; 1 == 1.0 == True; undefined equals only undefined).
bool Equals(const Value& a, const Value& b, int depth = 0);
// Python ordering for <, <=, >, >=: numbers, strings (code point order), lists and tuples
// lexicographically. Returns <0, 0, >0; fails with TypeError wording for other pairs.
Result<int> Compare(const Value& a, const Value& b, int depth = 0);

}  // namespace moe::jinja
