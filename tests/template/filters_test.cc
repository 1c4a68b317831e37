// Tests of Jinja2's built-in filters as the interpreter implements them (sequence, text and
// number filters, default). Expected strings are Jinja2 3.1's output.
#include <gtest/gtest.h>

#include "render_helpers.h"

namespace moe::template_test {
namespace {

TEST(JinjaFilters, Sequences) {
  ExpectRenders({
      {"{{ [3, 1, 2] | sort }} {{ [\"b\", \"A\", \"a\"] | sort }} {{ [\"b\", \"A\", \"a\"] | sort(case_sensitive=true) }} {{ [3,1,2] | sort(reverse=true) }}",
       "{}",
       "[1, 2, 3] ['A', 'a', 'b'] ['A', 'a', 'b'] [3, 2, 1]"},
      {"{{ users | sort(attribute=\"age\") | map(attribute=\"name\") | join(\", \") }}",
       "{\"users\": [{\"name\": \"ann\", \"age\": 31, \"city\": \"Oslo\"}, {\"name\": \"bob\", \"age\": 25, \"city\": \"Rome\"}, {\"name\": \"cy\", \"age\": 40, \"city\": \"Oslo\"}]}",
       "bob, ann, cy"},
      {"{{ users | selectattr(\"age\", \"gt\", 30) | map(attribute=\"name\") | list }} {{ users | rejectattr(\"age\", \"gt\", 30) | list | length }}",
       "{\"users\": [{\"name\": \"ann\", \"age\": 31, \"city\": \"Oslo\"}, {\"name\": \"bob\", \"age\": 25, \"city\": \"Rome\"}, {\"name\": \"cy\", \"age\": 40, \"city\": \"Oslo\"}]}",
       "['ann', 'cy'] 1"},
      {"{{ [1,2,3,4] | select(\"odd\") | list }} {{ [1,2,3,4] | reject(\"odd\") | list }} {{ [0,1,\"\",2] | select | list }}",
       "{}",
       "[1, 3] [2, 4] [1, 2]"},
      {"{{ [1,2,3] | first }} {{ [1,2,3] | last }} {{ [1,2,3] | length }} {{ \"héllo\" | length }} {{ [1,2,3] | sum }} {{ [1,2,3] | max }} {{ [1,2,3] | min }} {{ [1,2,2,1] | unique | list }}",
       "{}",
       "1 3 3 5 6 3 1 [1, 2]"},
      {"{{ users | map(attribute=\"age\") | sum }} {{ users | sum(attribute=\"age\") }} {{ users | max(attribute=\"age\") }}",
       "{\"users\": [{\"name\": \"ann\", \"age\": 31, \"city\": \"Oslo\"}, {\"name\": \"bob\", \"age\": 25, \"city\": \"Rome\"}, {\"name\": \"cy\", \"age\": 40, \"city\": \"Oslo\"}]}",
       "96 96 {'name': 'cy', 'age': 40, 'city': 'Oslo'}"},
      {"{{ [1,2,3,4,5] | batch(2) | list }} {{ [1,2,3,4,5] | slice(2) | list }} {{ [1,2,3,4,5] | batch(2, 0) | list }}",
       "{}",
       "[[1, 2], [3, 4], [5]] [[1, 2, 3], [4, 5]] [[1, 2], [3, 4], [5, 0]]"},
      {"{% for g, items in users | groupby(\"city\") %}{{ g }}:{{ items | map(attribute=\"name\") | join(\",\") }};{% endfor %}",
       "{\"users\": [{\"name\": \"ann\", \"age\": 31, \"city\": \"Oslo\"}, {\"name\": \"bob\", \"age\": 25, \"city\": \"Rome\"}, {\"name\": \"cy\", \"age\": 40, \"city\": \"Oslo\"}]}",
       "Oslo:ann,cy;Rome:bob;"},
      {"{{ {\"b\": 1, \"a\": 2} | dictsort }} {{ {\"b\": 1, \"a\": 2} | items | list }} {{ \"abc\" | list }} {{ [1,2] | reverse | list }}",
       "{}",
       "[('a', 2), ('b', 1)] [('b', 1), ('a', 2)] ['a', 'b', 'c'] [2, 1]"},
      {"{{ messages | map(attribute=\"role\") | list }} {{ messages | map(\"upper\") | list }} {{ messages | selectattr(\"role\", \"equalto\", \"user\") | list | length }}",
       "{\"messages\": [\"a\", \"b\"]}",
       "[Undefined, Undefined] ['A', 'B'] 0"},
      {"{{ [\"a\", \"b\"] | join(\", \") }} {{ [1, 2] | join }} {{ users | join(\"/\", attribute=\"name\") }}",
       "{\"users\": [{\"name\": \"ann\", \"age\": 31, \"city\": \"Oslo\"}, {\"name\": \"bob\", \"age\": 25, \"city\": \"Rome\"}, {\"name\": \"cy\", \"age\": 40, \"city\": \"Oslo\"}]}",
       "a, b 12 ann/bob/cy"},
  });
}

TEST(JinjaFilters, Text) {
  ExpectRenders({
      {"{{ \"hello world\" | title }} {{ \"hello WORLD\" | capitalize }} {{ \"Hi\" | upper }} {{ \"Hi\" | lower }} [{{ \"  a  \" | trim }}] {{ \"aXa\" | replace(\"a\", \"b\") }}",
       "{}",
       "Hello World Hello world HI hi [a] bXb"},
      {"{{ \"a\\nb\\n\\nc\" | indent(2) }}|{{ \"a\\nb\" | indent(2, true) }}|{{ \"a\\n\\nb\" | indent(2, blank=true) }}",
       "{}",
       "a\n  b\n\n  c|  a\n  b|a\n  \n  b"},
      {"{{ \"hello world foo bar\" | truncate(9) }}|{{ \"hello world foo bar baz qux\" | truncate(12, true) }}|{{ \"hello world\" | wordcount }}",
       "{}",
       "hello...|hello wor...|2"},
      {"{{ \"%s is %d\" | format(\"x\", 3) }} {{ \"<a>\" | escape }} {{ \"a<b>c</b>  d\" | striptags }} {{ \"x\" | center(5) }}|",
       "{}",
       "x is 3 &lt;a&gt; ac d   x  |"},
      {"{{ \"a b\" | urlencode }} {{ {\"a\": \"b c\"} | urlencode }} {{ 1500 | filesizeformat }} {{ \"abc\" | reverse }}",
       "{}",
       "a%20b a=b+c 1.5 kB cba"},
      {"[{{ \"\\u3000x\\u00a0\" | trim }}] [{{ \"xxhixx\" | trim(\"x\") }}] {{ 42 | string }} {{ [1] | string }} {{ none | string }}",
       "{}",
       "[x] [hi] 42 [1] None"},
  });
}

TEST(JinjaFilters, Numbers) {
  ExpectRenders({
      {"{{ \"3\" | int + 1 }} {{ \"3.7\" | int }} {{ \"x\" | int }} {{ \"x\" | int(5) }} {{ \"2.5\" | float }} {{ 3 | float }} {{ -3 | abs }}",
       "{}",
       "4 3 0 5 2.5 3.0 3"},
      {"{{ 2.5 | round }} {{ 3.5 | round }} {{ 3.14159 | round(2) }} {{ 3.1 | round(0, \"ceil\") }} {{ 3.9 | round(method=\"floor\") }}",
       "{}",
       "2.0 4.0 3.14 4.0 3.0"},
  });
}

TEST(JinjaFilters, Default) {
  ExpectRenders({
      {"{{ x | default(\"d\") }} {{ \"\" | default(\"d\") }} {{ \"\" | default(\"d\", true) }} {{ none | default(\"d\") }} {{ x | d(\"short\") }}",
       "{}",
       "d  d None short"},
  });
}

}  // namespace
}  // namespace moe::template_test
