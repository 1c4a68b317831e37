# Chat templates: the built-in Jinja2 interpreter (tokenizer/jinja/) behind chat_template.h.
add_library(moe_chat_template STATIC
  ${CMAKE_CURRENT_LIST_DIR}/jinja/args.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/builtins.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/chat_template.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/filters.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/filters_text.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/interpreter.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/is_tests.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/json_convert.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/lexer.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/methods.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/operators.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/parser.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/parser_expr.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/py_string.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja/value.cc
)
target_link_libraries(moe_chat_template PUBLIC moe_base nlohmann_json::nlohmann_json)
