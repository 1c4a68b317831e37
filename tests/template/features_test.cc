// Feature tests of the Jinja interpreter: operators, literals, loops and loop variables,
// whitespace control, macros and call blocks, scoping, namespace(), slicing, Python string
// and dict methods, `is` tests, `in`, tojson, globals, undefined values, and the limits.
// Expected strings are what Jinja2 3.1 renders in the kit's reference environment.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "render_helpers.h"
#include "tokenizer/chat_template.h"

namespace moe::template_test {
namespace {

TEST(JinjaFeatures, Arithmetic) {
  ExpectRenders({
      {"{{ 1 + 2 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }}",
       "{}",
       "3 3.5 3 -4 2 1024 64"},
      {"{{ 4 / 2 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e-7 }} {{ 123456789.0 }} {{ 1/3 }} {{ -0.0 }}",
       "{}",
       "2.0 0.30000000000000004 1e+16 1e-07 123456789.0 0.3333333333333333 -0.0"},
      {"{{ \"ab\" * 3 }} {{ [1] * 3 }} {{ 3 * \"x\" }} {{ -(3) }} {{ +3 }} {{ \"%s-%s\" % (1, 2) }} {{ \"%05.2f\" % 3.14159 }}",
       "{}",
       "ababab [1, 1, 1] xxx -3 3 1-2 03.14"},
      {"{{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1.5e3 }} {{ 2E-2 }}",
       "{}",
       "1000 31 5 15 1500.0 0.02"},
      {"{{ [1] + [2] }} {{ (1,) + (2,) }} {{ \"a\" ~ 1 ~ none ~ true }}",
       "{}",
       "[1, 2] (1, 2) a1NoneTrue"},
  });
}

TEST(JinjaFeatures, Literals) {
  ExpectRenders({
      {"{{ [1, \"a\", none, true, 1.5, {\"k\": [1]}] }} {{ (1, 2) }} {{ (1,) }} {{ () }}",
       "{}",
       "[1, 'a', None, True, 1.5, {'k': [1]}] (1, 2) (1,) ()"},
      {"{{ {\"b\": 1, \"a\": 2} }} {{ {\"k\": \"v's\"} }} {{ [\"it's\", \"a\\\"b\"] }} {{ [\"\\n\"] }}",
       "{}",
       "{'b': 1, 'a': 2} {'k': \"v's\"} [\"it's\", 'a\"b'] ['\\n']"},
      {"{{ \"multi\" \"part\" }} {{ 'single' }} {{ \"a\\tb\\\\c\\x41\\u00e9\" }}",
       "{}",
       "multipart single a\tb\\cAé"},
      {"{{ true }} {{ True }} {{ none }} {{ None }} {{ false }}",
       "{}",
       "True True None None False"},
  });
}

TEST(JinjaFeatures, Comparisons) {
  ExpectRenders({
      {"{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1.0 }} {{ [1, 2] == [1, 2] }} {{ {\"a\": 1} == {\"a\": 1} }} {{ \"a\" < \"b\" }}",
       "{}",
       "True False True True True True"},
      {"{{ not true }} {{ true and \"x\" }} {{ false or \"y\" }} {{ none or 0 }} {{ not x is defined }}",
       "{}",
       "False x y 0 True"},
      {"{{ \"x\" if true else \"y\" }} {{ \"x\" if false else \"y\" }} [{{ \"x\" if false }}]",
       "{}",
       "x y []"},
  });
}

TEST(JinjaFeatures, Membership) {
  ExpectRenders({
      {"{{ 1 in [1,2] }} {{ \"a\" in \"abc\" }} {{ \"k\" in {\"k\": 1} }} {{ 3 not in [1,2] }} {{ \"z\" not in \"abc\" }}",
       "{}",
       "True True True True True"},
      {"{{ 1 in undefined_var }} {{ undefined_var in [1] }} {{ \"role\" in messages[0] }}",
       "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"}]}",
       "False False True"},
  });
}

TEST(JinjaFeatures, LoopVariables) {
  ExpectRenders({
      {"{% for i in range(3) %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
       "{}",
       "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|"},
      {"{% for i in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}",
       "{}",
       "-2;1-3;2-;"},
      {"{% for i in [1,2,3] if i != 2 %}{{ i }}{{ loop.index }}{{ loop.last }}{% else %}empty{% endfor %}",
       "{}",
       "11False32True"},
      {"{% for i in [] %}{{ i }}{% else %}empty{% endfor %}",
       "{}",
       "empty"},
      {"{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %} {% for k in d %}{{ k }}{% endfor %}",
       "{\"d\": {\"b\": 1, \"a\": 2}}",
       "b=1,a=2, ba"},
      {"{% for i in range(3) %}{{ loop.cycle(\"a\", \"b\") }}{% endfor %} {% for i in [1,1,2,2,3] %}{% if loop.changed(i) %}{{ i }}{% endif %}{% endfor %}",
       "{}",
       "aba 123"},
      {"{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}{% endfor %}",
       "{}",
       "113 214 1123 224 2"},
      {"{% for x in tree recursive %}{{ x.n }}{% if x.c %}({{ loop(x.c) }}){% endif %}{% endfor %}",
       "{\"tree\": [{\"n\": \"a\", \"c\": [{\"n\": \"b\", \"c\": []}, {\"n\": \"c\"}]}, {\"n\": \"d\"}]}",
       "a(bc)d"},
      {"{% for c in \"héy\" %}{{ c }}.{% endfor %}",
       "{}",
       "h.é.y."},
  });
}

TEST(JinjaFeatures, LoopControl) {
  ExpectRenders({
      {"{% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}",
       "{}",
       "02"},
      {"{{ range(5) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }}",
       "{}",
       "[0, 1, 2, 3, 4] [1, 4, 7] [5, 3, 1]"},
  });
}

TEST(JinjaFeatures, WhitespaceControl) {
  ExpectRenders({
      {"a\n  {% if true %}\n  b\n  {% endif %}\nc\n",
       "{}",
       "a\n  b\nc"},
      {"a  {% if true %}b{% endif %}  c",
       "{}",
       "a  b  c"},
      {"  {{ x }}  \n  {% if 1 %}y{% endif %}",
       "{\"x\": 1}",
       "  1  \ny"},
      {"a\n  {%- if true -%}\n  b  \n  {%- endif -%}\n  c",
       "{}",
       "abc"},
      {"a\n  {%+ if true %}\nb{% endif +%}\nc",
       "{}",
       "a\n  b\nc"},
      {"x {# comment #}\ny\n  {# c2 #}\nz",
       "{}",
       "x y\nz"},
      {"x {#- c -#}   y",
       "{}",
       "xy"},
      {"{% raw %}{{ not parsed }}{% endraw %}",
       "{}",
       "{{ not parsed }}"},
      {"line1\r\nline2\r\n{% if true %}\r\nX\r\n{% endif %}\r\n",
       "{}",
       "line1\nline2\nX\n"},
      {"trailing\n\n",
       "{}",
       "trailing\n"},
      {"{{- \"x\" -}}   \n  {{ \"y\" }}",
       "{}",
       "xy"},
      {"A {%- if true %} B {% endif -%} C",
       "{}",
       "A B C"},
      {"{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n",
       "{}",
       "  1\n  2\n"},
      {"\t{% if true %}\tX\n{% endif %}",
       "{}",
       "\tX\n"},
  });
}

TEST(JinjaFeatures, Macros) {
  ExpectRenders({
      {"{% macro f(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ f(1) }} {{ f(1, 3) }} {{ f(b=5, a=4) }}",
       "{}",
       "1-2 1-3 4-5"},
      {"{% macro f() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, x=3) }}",
       "{}",
       "(1, 2){'x': 3}"},
      {"{%- macro f(n) -%}{%- if n > 0 -%}{{ n }}{{ f(n - 1) }}{%- endif -%}{%- endmacro -%}{{ f(5) }}",
       "{}",
       "54321"},
      {"{% macro m() %}[{{ caller() }}]{% endmacro %}{% call m() %}body{% endcall %}",
       "{}",
       "[body]"},
      {"{% macro m(x) %}[{{ caller(x) }}]{% endmacro %}{% call(y) m(5) %}got {{ y }}{% endcall %}",
       "{}",
       "[got 5]"},
      {"{% macro m() %}{{ later }}{% endmacro %}{% set later = 7 %}{{ m() }}",
       "{}",
       "7"},
      {"{% macro m(p) %}{{ p }}{% endmacro %}[{{ m() }}]",
       "{}",
       "[]"},
  });
}

TEST(JinjaFeatures, Scoping) {
  ExpectRenders({
      {"{% set x = 1 %}{% for i in [1,2] %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}",
       "{}",
       "12121"},
      {"{% if true %}{% set y = 1 %}{% endif %}{{ y }}",
       "{}",
       "1"},
      {"{% for i in [1] %}{% set z = 5 %}{% endfor %}[{{ z }}]",
       "{}",
       "[]"},
      {"{% set v = 1 %}{% macro m() %}{{ v }}{% set v = 2 %}{{ v }}{% endmacro %}{{ m() }}{{ v }}",
       "{}",
       "121"},
      {"{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}",
       "{}",
       "3False"},
      {"{% set x %}inner {{ 1 + 1 }}{% endset %}[{{ x }}]",
       "{}",
       "[inner 2]"},
      {"{% set a, b = [1, 2] %}{{ a }}{{ b }}",
       "{}",
       "12"},
  });
}

TEST(JinjaFeatures, Namespace) {
  ExpectRenders({
      {"{% set ns = namespace(x=1) %}{% for i in [1,2] %}{% set ns.x = ns.x + 1 %}{% endfor %}{{ ns.x }}",
       "{}",
       "3"},
      {"{% set ns = namespace(a=[]) %}{% for i in [1,2] %}{% set ns.a = ns.a + [i] %}{% endfor %}{{ ns.a }}",
       "{}",
       "[1, 2]"},
      {"{% set ns = namespace() %}{% set ns.found = false %}{% for m in messages %}{% if m.role == \"user\" %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}",
       "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"}]}",
       "True"},
      {"{% macro bump() %}{% set ns.n = ns.n + 1 %}{% endmacro %}{% set ns = namespace(n=0) %}{{ bump() }}{{ bump() }}{{ ns.n }}",
       "{}",
       "2"},
      {"{{ namespace(a=1) }} {{ dict(a=1, b=2) }}",
       "{}",
       "<Namespace {'a': 1}> {'a': 1, 'b': 2}"},
  });
}

TEST(JinjaFeatures, Slicing) {
  ExpectRenders({
      {"{{ \"abc\"[1:] }} {{ \"abc\"[:-1] }} {{ \"abc\"[::-1] }} {{ [1,2,3][1:] }} {{ [1,2,3][::-2] }} {{ [1,2,3][5:] }} {{ \"héllo\"[1:3] }}",
       "{}",
       "bc ab cba [2, 3] [3, 1] [] él"},
      {"{{ [1,2,3][-1] }} {{ [1,2,3][5] is defined }} {{ \"abc\"[0] }} {{ x.0 }} {{ x.1.0 }}",
       "{\"x\": [[1, [2]], [3, [4]]]}",
       "3 False a [1, [2]] 3"},
      {"{{ messages[1:] | length }} {{ messages[-1].content }} {{ messages[0][\"role\"] }}",
       "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"}]}",
       "1 U system"},
  });
}

TEST(JinjaFeatures, StringMethods) {
  ExpectRenders({
      {"{{ \"hello world\".split() }} {{ \"a,b,,c\".split(\",\") }} {{ \"a,b,c\".split(\",\", 1) }} {{ \"a,b,c\".rsplit(\",\", 1) }}",
       "{}",
       "['hello', 'world'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['a,b', 'c']"},
      {"{{ \"  x  \".strip() }}|{{ \"xxaxx\".strip(\"x\") }}|{{ \"\u3000a\u00a0\".strip() }}|{{ \"abc\".lstrip(\"a\") }}|{{ \"abc\".rstrip(\"c\") }}",
       "{}",
       "x|a|a|bc|ab"},
      {"{{ \"Hello\".startswith(\"He\") }} {{ \"Hello\".endswith((\"x\", \"lo\")) }} {{ \"abc\".upper() }} {{ \"a-b\".replace(\"-\", \"+\") }} {{ \"abcabc\".find(\"c\") }} {{ \"abcabc\".count(\"b\") }}",
       "{}",
       "True True ABC a+b 2 2"},
      {"{{ \"hello world\".title() }} {{ \"hELLO\".capitalize() }} {{ \"ab\".center(6, \"*\") }} {{ \"42\".zfill(5) }} {{ \"a b\".partition(\" \") }}",
       "{}",
       "Hello World Hello **ab** 00042 ('a', ' ', 'b')"},
      {"{{ \"{} {}\".format(1, \"a\") }} {{ \"x\\ny\".splitlines() }} {{ \"-\".join([\"a\", \"b\"]) }} {{ \"abc\".isalpha() }} {{ \"12\".isdigit() }}",
       "{}",
       "1 a ['x', 'y'] a-b True True"},
      {"{{ d.get(\"a\") }} {{ d.get(\"z\", 5) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}",
       "{\"d\": {\"a\": 1, \"b\": 2}}",
       "1 5 ['a', 'b'] [1, 2] [('a', 1), ('b', 2)]"},
      {"{% set l = [1] %}{% set _ = l.append(2) %}{{ l }} {{ l.pop(0) }} {{ l }}",
       "{}",
       "[1, 2] 1 [2]"},
      {"{% set d = {\"a\": 1} %}{{ d.update({\"b\": 2}) }}{{ d }}",
       "{}",
       "None{'a': 1, 'b': 2}"},
  });
}

TEST(JinjaFeatures, IsTests) {
  ExpectRenders({
      {"{{ x is none }} {{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ x is string }}",
       "{\"x\": null}",
       "True True False True False"},
      {"{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1.0 is float }} {{ false is boolean }}",
       "{}",
       "True True True False True True False True True"},
      {"{{ [] is sequence }} {{ {} is sequence }} {{ \"\" is sequence }} {{ 1 is sequence }} {{ u is sequence }} {{ u is iterable }} {{ {} is mapping }} {{ u is callable }} {{ range is callable }}",
       "{}",
       "True True True False True True True True True"},
      {"{{ \"a\" is eq \"a\" }} {{ 2 is gt 1 }} {{ 2 is lessthan 1 }} {{ 1 is in [1] }} {{ \"tojson\" is filter }} {{ \"odd\" is test }} {{ false is sameas false }} {{ \"ab\" is lower }}",
       "{}",
       "True True False True True True True True"},
      {"{{ x is true }} {{ x is false }} {{ x is not none }} {{ not x is none }}",
       "{\"x\": false}",
       "False True True True"},
  });
}

TEST(JinjaFeatures, ToJson) {
  ExpectRenders({
      {"{{ {\"a\": 1, \"b\": [1, 2, \"x\"], \"c\": none, \"d\": true, \"e\": 1.5} | tojson }}",
       "{}",
       "{\"a\": 1, \"b\": [1, 2, \"x\"], \"c\": null, \"d\": true, \"e\": 1.5}"},
      {"{{ {\"a\": 1, \"b\": [1, 2], \"c\": {}, \"d\": []} | tojson(indent=2) }}",
       "{}",
       "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {},\n  \"d\": []\n}"},
      {"{{ {\"b\": 1, \"a\": 2} | tojson(sort_keys=true) }} {{ \"é\\n\\u2028\" | tojson }} {{ \"é😀\" | tojson(ensure_ascii=true) }} {{ [1,2] | tojson(separators=(\",\", \":\")) }}",
       "{}",
       "{\"a\": 2, \"b\": 1} \"é\\n\u2028\" \"\\u00e9\\ud83d\\ude00\" [1,2]"},
      {"{{ \"x</y>&'\\x01\\x7f\" | tojson }} {{ 1e-07 | tojson }} {{ 1e16 | tojson }} {{ 45.5 | tojson }}",
       "{}",
       "\"x</y>&'\\u0001\177\" 1e-07 1e+16 45.5"},
      {"{{ tools | tojson }}",
       "{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"z\": 1, \"a\": 2}}}]}",
       "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"z\": 1, \"a\": 2}}}]"},
  });
}

TEST(JinjaFeatures, Globals) {
  ExpectRenders({
      {"{{ strftime_now(\"%Y-%m-%d\") }} {{ strftime_now(\"%d %b %Y\") }} {{ strftime_now(\"%B %d, %Y\") }} {{ strftime_now(\"%A\") }}",
       "{}",
       "2026-01-15 15 Jan 2026 January 15, 2026 Thursday"},
      {"{% set c = cycler(\"x\", \"y\") %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}",
       "{}",
       "xyxy"},
      {"{% set j = joiner(\"|\") %}{% for i in [1,2,3] %}{{ j() }}{{ i }}{% endfor %}",
       "{}",
       "1|2|3"},
  });
}

TEST(JinjaFeatures, Undefined) {
  ExpectRenders({
      {"{{ u | length }} {{ u | list }} {{ u ~ \"x\" }} [{{ u | join }}] [{{ u | trim }}] [{{ u }}] {{ u | default(\"d\") }}",
       "{}",
       "0 [] x [] [] [] d"},
      {"{% for x in u %}x{% endfor %}ok {{ u == u2 }} {{ u != 1 }} {{ none.x is defined }} {{ \"s\".nope is defined }}",
       "{}",
       "ok True True False False"},
      {"{{ messages[0].content.content is defined }} {{ messages[5] is defined }} {{ messages[0].nope is defined }}",
       "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"}]}",
       "False False False"},
  });
}

TEST(JinjaErrors, Runtime) {
  ExpectFails({
      "{{ x.y }}",
      "{{ x + 1 }}",
      "{{ x() }}",
      "{{ x[0] }}",
      "{{ none + 1 }}",
      "{{ \"a\" + 1 }}",
      "{{ \"a\" in none }}",
      "{{ x | tojson }}",
      "{{ \"s\" | items | list }}",
      "{{ 1 / 0 }}",
      "{{ none.split(\"x\") }}",
      "{{ x < 1 }}",
      "{% for x in none %}{% endfor %}",
      "{{ none | length }}",
      "{% set n = 5 %}{% set n.a = 1 %}",
  });
}

TEST(JinjaErrors, Syntax) {
  ExpectFails({
      "{% if x %}",
      "{% endif %}",
      "{{ x ",
      "{{ x }",
      "{% for %}{% endfor %}",
      "{{ 1 + }}",
      "{# unclosed",
      "{{ \"open }}",
      "{% unknown %}",
      "{% break %}",
      "{{ x[1:2:3:4] }}",
      "{{ @ }}",
      "{% macro f(a=1, b) %}{% endmacro %}",
      "{{ f(a=1, 2) }}",
  });
}


// The kit's documented alternatives: list mutation works (not the immutable sandbox), and
// map/select results are lists that tojson serialises (not lazy generators).
TEST(JinjaFeatures, KitAlternatives) {
  ExpectRenders({
      {"{% set ns = namespace(ids=[]) %}{% set _ = ns.ids.append('a') %}"
       "{% set _ = ns.ids.append('b') %}{{ ns.ids.pop(0) }}{{ ns.ids }}",
       "{}", "a['b']"},
      {"{{ users | map(attribute='name') | tojson }}", R"({"users": [{"name": "ann"}]})",
       "[\"ann\"]"},
  });
}

TEST(JinjaErrors, RaiseExceptionMessageIsVerbatim) {
  auto tmpl = ChatTemplate::Parse("a\n  {{ raise_exception('Bad role: ' ~ role) }}");
  ASSERT_TRUE(tmpl.ok());
  TemplateError error;
  auto out = tmpl->Render(nlohmann::ordered_json{{"role", "robot"}}, {}, &error);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "Bad role: robot");
  EXPECT_EQ(error.kind, TemplateError::Kind::kRaised);
  EXPECT_EQ(error.message, "Bad role: robot");
  EXPECT_EQ(error.line, 2);
}

TEST(JinjaErrors, SyntaxErrorsReportLineAndColumn) {
  TemplateError error;
  auto tmpl = ChatTemplate::Parse("line one\n{% for m in messages %}\n  {{ m.content | }}\n{% endfor %}",
                                  &error);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_EQ(error.kind, TemplateError::Kind::kSyntax);
  EXPECT_EQ(error.line, 3);
  EXPECT_EQ(error.column, 18);
  EXPECT_EQ(tmpl.status().message(), "line 3, column 18: " + error.message);

  auto unclosed = ChatTemplate::Parse("{% if x %}\nyes\n", &error);
  ASSERT_FALSE(unclosed.ok());
  EXPECT_NE(unclosed.status().message().find("expected 'elif' or 'else' or 'endif'"),
            std::string::npos);
}

TEST(JinjaErrors, RuntimeErrorsReportLineAndColumn) {
  auto tmpl = ChatTemplate::Parse("ok\n{{ messages[0].content.split(',') }}");
  ASSERT_TRUE(tmpl.ok());
  TemplateError error;
  auto out = tmpl->Render(nlohmann::ordered_json::parse(R"({"messages": [{"content": null}]})"),
                          {}, &error);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(error.kind, TemplateError::Kind::kRuntime);
  EXPECT_EQ(error.line, 2);
  EXPECT_TRUE(out.status().message().starts_with("line 2, column ")) << out.status().message();
}

TEST(JinjaFeatures, ContextKeyOrderIsKept) {
  const char* json = R"({"d": {"zeta": 1, "alpha": 2}})";
  auto tmpl = ChatTemplate::Parse("{{ d | tojson }} {% for k in d %}{{ k }} {% endfor %}");
  ASSERT_TRUE(tmpl.ok());
  auto ordered = tmpl->Render(nlohmann::ordered_json::parse(json));
  ASSERT_TRUE(ordered.ok());
  EXPECT_EQ(*ordered, "{\"zeta\": 1, \"alpha\": 2} zeta alpha ");
  auto sorted = tmpl->Render(nlohmann::json::parse(json));  // std::map-backed: sorted keys
  ASSERT_TRUE(sorted.ok());
  EXPECT_EQ(*sorted, "{\"alpha\": 2, \"zeta\": 1} alpha zeta ");
}

TEST(JinjaFeatures, RenderChatTemplateConvenience) {
  auto out = RenderChatTemplate("{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}",
                                nlohmann::ordered_json::parse(
                                    R"({"bos_token": "<s>", "messages": [{"role": "user", "content": "hi"}]})"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, "<s><user>hi");
  EXPECT_FALSE(RenderChatTemplate("{{", nlohmann::ordered_json::object()).ok());
  EXPECT_FALSE(RenderChatTemplate("x", nlohmann::ordered_json::array()).ok());
}

TEST(JinjaFeatures, StrftimeNowUsesTheConfiguredClock) {
  using namespace std::chrono;
  auto tmpl = ChatTemplate::Parse("{{ strftime_now('%Y-%m-%d %H:%M %a') }}");
  ASSERT_TRUE(tmpl.ok());
  ChatTemplateOptions options{.now = sys_seconds(sys_days(year(2024) / July / 26)) + hours(13) + minutes(5)};
  auto out = tmpl->Render(nlohmann::ordered_json::object(), options);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "2024-07-26 13:05 Fri");
  auto now = tmpl->Render(nlohmann::ordered_json::object());  // the real clock
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->size(), 20u);
}

// Hostile templates stop at the limits of tokenizer/jinja/limits.h with an error.
TEST(JinjaLimits, HostileTemplatesFailInsteadOfHanging) {
  ExpectFails({
      "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",                      // recursion
      "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}",
      "{{ 'x' * 100000000 }}",                                                 // one huge string
      "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
      "{% endfor %}",                                                          // doubling
      "{% for i in range(100000) %}{% for j in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}"
      "{% endfor %}{% endfor %}",                                              // output size
      "{{ range(1000000) | length }}",                                         // MAX_RANGE
      "{{ [0] * 100000000 }}",                                                 // huge list
  });
}

TEST(JinjaLimits, DeepNestingIsAnErrorNotACrash) {
  std::string deep_expr = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  std::string long_chain = "{{ 1" ;
  for (int i = 0; i < 5000; ++i) long_chain += " + 1";
  long_chain += " }}";
  std::string deep_blocks;
  for (int i = 0; i < 1000; ++i) deep_blocks += "{% if true %}";
  for (int i = 0; i < 1000; ++i) deep_blocks += "{% endif %}";
  std::string deep_not = "{{ " ;
  for (int i = 0; i < 5000; ++i) deep_not += "not ";
  deep_not += "x }}";
  ExpectFails({deep_expr.c_str(), long_chain.c_str(), deep_blocks.c_str(), deep_not.c_str()});
}

TEST(JinjaLimits, DeepAndCyclicValuesAreSafe) {
  // A 20000-level nested list is built and freed without deep recursion; tojson of it stops
  // at kMaxValueDepth with an error.
  const char* nested =
      "{% set ns = namespace(a=[]) %}{% for i in range(20000) %}{% set ns.a = [ns.a] %}"
      "{% endfor %}";
  EXPECT_EQ(RenderOrError(std::string(nested) + "ok", "{}"), "ok");
  EXPECT_TRUE(RenderOrError(std::string(nested) + "{{ ns.a | tojson }}", "{}").starts_with("ERROR"));
  // Reference cycles would never be freed (shared ownership), so building one is an error.
  ExpectFails({"{% set l = [] %}{% do l.append(l) %}",
               "{% set a = [] %}{% set b = [a] %}{% do a.append(b) %}",
               "{% set ns = namespace() %}{% set ns.self = [ns] %}",
               "{% set d = {} %}{% do d.update({'me': d}) %}"});
  EXPECT_EQ(RenderOrError("{% set l = [1] %}{% do l.extend(l) %}{{ l }}", "{}"), "[1, 1]");
}


TEST(JinjaFeatures, OneTemplateRendersOnManyThreads) {
  auto tmpl = ChatTemplate::Parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
      "{{ m.role }}:{{ m.content | upper }};{% endfor %}{{ ns.n }}");
  ASSERT_TRUE(tmpl.ok());
  const auto ctx = nlohmann::ordered_json::parse(
      R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})");
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto out = tmpl->Render(ctx);
        if (out.ok() && *out == "user:A;assistant:B;2") ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 800);
}

}  // namespace
}  // namespace moe::template_test
