// Binding of call arguments to named parameters for filters, tests, methods and globals.
#include <fmt/format.h>

#include "tokenizer/jinja/interpreter.h"

namespace moe::jinja {

Result<std::vector<Value>> BindArgs(std::string_view function, const CallArgs& args,
                                    std::initializer_list<Param> params) {
  const std::vector<Param> ps(params);
  std::vector<std::optional<Value>> bound(ps.size());
  if (args.positional.size() > ps.size()) {
    return Status::Errorf("TypeError: {}() takes at most {} argument(s) ({} given)", function,
                          ps.size(), args.positional.size());
  }
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < ps.size() && ps[i].name != key) ++i;
    if (i == ps.size()) {
      return Status::Errorf("TypeError: {}() got an unexpected keyword argument '{}'", function,
                            key);
    }
    if (bound[i]) {
      return Status::Errorf("TypeError: {}() got multiple values for argument '{}'", function,
                            key);
    }
    bound[i] = value;
  }
  std::vector<Value> out;
  out.reserve(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    if (bound[i]) {
      out.push_back(std::move(*bound[i]));
    } else if (ps[i].default_value) {
      out.push_back(*ps[i].default_value);
    } else {
      return Status::Errorf("TypeError: {}() missing required argument '{}'", function,
                            ps[i].name);
    }
  }
  return out;
}

}  // namespace moe::jinja
