// Jinja2's built-in tests (`x is defined`, `x is mapping`, `x is divisibleby 3`, ...), as in
// jinja2/tests.py. Undefined counts as iterable, sequence and callable (it defines __iter__,
// __len__, __getitem__ and __call__), but not as string, mapping or none.
#include <fmt/format.h>

#include "tokenizer/jinja/interpreter.h"

namespace moe::jinja {
namespace {

Result<Value> OneArg(std::string_view name, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"other", std::nullopt}}));
  return a[0];
}

Status NoArgs(std::string_view name, CallArgs& args) { return BindArgs(name, args, {}).status(); }

#define MOE_SIMPLE_TEST(fn_name, test_name, expr)                        \
  Result<bool> fn_name(Interpreter&, const Value& v, CallArgs& args) {   \
    MOE_RETURN_IF_ERROR(NoArgs(test_name, args));                        \
    return (expr);                                                       \
  }

MOE_SIMPLE_TEST(TestDefined, "defined", !v.is_undefined())
MOE_SIMPLE_TEST(TestUndefined, "undefined", v.is_undefined())
MOE_SIMPLE_TEST(TestNone, "none", v.is_none())
MOE_SIMPLE_TEST(TestBoolean, "boolean", v.is_bool())
MOE_SIMPLE_TEST(TestFalse, "false", v.is_bool() && !v.bool_value())
MOE_SIMPLE_TEST(TestTrue, "true", v.is_bool() && v.bool_value())
MOE_SIMPLE_TEST(TestInteger, "integer", v.is_int())
MOE_SIMPLE_TEST(TestFloat, "float", v.is_float())
MOE_SIMPLE_TEST(TestString, "string", v.is_string())
MOE_SIMPLE_TEST(TestMapping, "mapping", v.is_dict())
MOE_SIMPLE_TEST(TestNumber, "number", v.is_number())
MOE_SIMPLE_TEST(TestSequence, "sequence",
                v.is_undefined() || v.is_string() || v.is_list() || v.is_dict())
MOE_SIMPLE_TEST(TestIterable, "iterable",
                v.is_undefined() || v.is_string() || v.is_list() || v.is_dict())
MOE_SIMPLE_TEST(TestCallable, "callable",
                v.is_callable() || v.is_undefined() || (v.is_object() && v.object().call))
MOE_SIMPLE_TEST(TestEscaped, "escaped", false)

#undef MOE_SIMPLE_TEST

Result<bool> CaseTest(Interpreter& in, const Value& v, CallArgs& args, const char* method) {
  MOE_RETURN_IF_ERROR(NoArgs(method, args));
  CallArgs none;
  MOE_ASSIGN_OR_RETURN(Value r, CallMethod(in, Value::String(v.Str()), method, none));
  return r.Truthy();
}

Result<bool> TestLower(Interpreter& in, const Value& v, CallArgs& a) { return CaseTest(in, v, a, "islower"); }
Result<bool> TestUpper(Interpreter& in, const Value& v, CallArgs& a) { return CaseTest(in, v, a, "isupper"); }

Result<bool> Modulo(Interpreter& in, const Value& v, const Value& n, int64_t want) {
  MOE_ASSIGN_OR_RETURN(Value r, BinaryOp(in, "%", v, n));
  return Equals(r, Value::Int(want));
}

Result<bool> TestOdd(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(NoArgs("odd", args));
  return Modulo(in, v, Value::Int(2), 1);
}

Result<bool> TestEven(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(NoArgs("even", args));
  return Modulo(in, v, Value::Int(2), 0);
}

Result<bool> TestDivisibleby(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(auto a, BindArgs("divisibleby", args, {{"num", std::nullopt}}));
  return Modulo(in, v, a[0], 0);
}

Result<bool> TestSameas(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(Value other, OneArg("sameas", args));
  if (v.type() != other.type()) return false;
  switch (v.type()) {
    case Value::Type::kNone:
    case Value::Type::kUndefined: return true;
    case Value::Type::kBool: return v.bool_value() == other.bool_value();
    // CPython caches small ints; other numbers are distinct objects.
    case Value::Type::kInt:
      return v.int_value() == other.int_value() && v.int_value() >= -5 && v.int_value() <= 256;
    case Value::Type::kFloat: return false;
    case Value::Type::kString: return v.str() == other.str();
    default: return v.identity() == other.identity();
  }
}

Result<bool> TestIn(Interpreter&, const Value& v, CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(Value seq, OneArg("in", args));
  return Contains(seq, v);
}

Result<bool> TestFilter(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(NoArgs("filter", args));
  return v.is_string() && in.HasFilter(v.str());
}

Result<bool> TestTest(Interpreter& in, const Value& v, CallArgs& args) {
  MOE_RETURN_IF_ERROR(NoArgs("test", args));
  return v.is_string() && in.HasTest(v.str());
}

template <int kOp>  // 0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=
Result<bool> TestCompare(Interpreter&, const Value& v, CallArgs& args) {
  static constexpr std::string_view kOps[] = {"==", "!=", "<", "<=", ">", ">="};
  MOE_ASSIGN_OR_RETURN(Value other, OneArg(kOps[kOp], args));
  return CompareOp(kOps[kOp], v, other);
}

}  // namespace

const std::unordered_map<std::string_view, TestFn>& Tests() {
  static const auto* table = new std::unordered_map<std::string_view, TestFn>{
      {"odd", TestOdd},
      {"even", TestEven},
      {"divisibleby", TestDivisibleby},
      {"defined", TestDefined},
      {"undefined", TestUndefined},
      {"filter", TestFilter},
      {"test", TestTest},
      {"none", TestNone},
      {"boolean", TestBoolean},
      {"false", TestFalse},
      {"true", TestTrue},
      {"integer", TestInteger},
      {"float", TestFloat},
      {"lower", TestLower},
      {"upper", TestUpper},
      {"string", TestString},
      {"mapping", TestMapping},
      {"number", TestNumber},
      {"sequence", TestSequence},
      {"iterable", TestIterable},
      {"callable", TestCallable},
      {"sameas", TestSameas},
      {"escaped", TestEscaped},
      {"in", TestIn},
      {"==", TestCompare<0>},
      {"eq", TestCompare<0>},
      {"equalto", TestCompare<0>},
      {"!=", TestCompare<1>},
      {"ne", TestCompare<1>},
      {"<", TestCompare<2>},
      {"lt", TestCompare<2>},
      {"lessthan", TestCompare<2>},
      {"<=", TestCompare<3>},
      {"le", TestCompare<3>},
      {">", TestCompare<4>},
      {"gt", TestCompare<4>},
      {"greaterthan", TestCompare<4>},
      {">=", TestCompare<5>},
      {"ge", TestCompare<5>},
  };
  return *table;
}

}  // namespace moe::jinja
