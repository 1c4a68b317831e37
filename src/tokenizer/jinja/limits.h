// Resource bounds of the Jinja interpreter: a hostile or broken chat template fails with an
// error once it crosses one of these, instead of hanging or exhausting memory or stack.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moe::jinja {

// Nesting of statements plus expressions while parsing ({% if %} inside {% for %}, brackets,
// operators). Each level costs a few parser frames, so this also bounds parser stack use.
inline constexpr int kMaxParseDepth = 200;

// Height of one expression tree, counting chains too: `a + b + c` is 3 levels, as is
// `x|f|g`. Bounds evaluation recursion and the recursive destruction of the tree.
inline constexpr int kMaxExprHeight = 400;

// Nesting of evaluation (expression nodes, statement bodies and macro calls together) while
// rendering. Real templates stay under ~60; 1500 levels keep the stack under ~2 MiB.
inline constexpr int kMaxEvalDepth = 1500;

// Nested macro calls (recursion). gpt-oss recurses once per level of a JSON schema.
inline constexpr int kMaxMacroDepth = 100;

// Total for-loop iterations in one render, over all loops (nested loops multiply). A
// 1000-message conversation through a template with an O(n^2) loop stays under it.
inline constexpr int64_t kMaxLoopIterations = 2'000'000;

// Total calls (macros, functions, methods) in one render: bounds branching recursion.
inline constexpr int64_t kMaxCalls = 1'000'000;

// Largest rendered output, and largest string any single operation may build ('x' * n,
// joins, concatenation).
inline constexpr size_t kMaxOutputBytes = size_t{32} << 20;

// Total bytes of strings built by operations (concatenation, filters, macro results, ...)
// in one render: bounds time and memory of templates that build strings in loops.
inline constexpr size_t kMaxBuiltBytes = size_t{1} << 30;

// Total list elements built in one render (range(), list literals, filters, appends).
inline constexpr size_t kMaxBuiltItems = size_t{16} << 20;

// Largest list any single operation may build (range(), list * n, batch, ...).
inline constexpr size_t kMaxListItems = size_t{4} << 20;

// Nesting of values walked recursively (repr, ==, ordering, tojson, JSON input). Deeper
// values (or cyclic ones built with list.append) fail or print '...' instead of overflowing.
inline constexpr int kMaxValueDepth = 256;

// Largest template source accepted by the parser.
inline constexpr size_t kMaxSourceBytes = size_t{4} << 20;

}  // namespace moe::jinja
