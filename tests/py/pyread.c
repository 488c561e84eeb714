/*
 * The NUM_GPUS reader, from a table of modules with the answer each should
 * give, and against Python's own parser (tests/py/ast_oracle.py) where
 * python3 is: the table, then modules put together at random from valid
 * pieces.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "base/xalloc.h"
#include "py/pyread.h"

#define NONE PY_INT_ABSENT
#define LIT  PY_INT_LITERAL
#define NON  PY_INT_NONLITERAL
#define COND PY_INT_CONDITIONAL
#define ERR  100 /* py_top_int() fails; line: where */

#define CASE(name, src, want, value, line)                                                         \
	{                                                                                          \
		name, src, want, value, line, NULL                                                 \
	}
#define CASE_SKIP(name, src, want, value, line, why)                                               \
	{                                                                                          \
		name, src, want, value, line, why                                                  \
	}

struct pycase {
	const char *name;
	const char *src;
	int want; /* an enum py_int_kind, or ERR */
	int64_t value;
	unsigned line;
	/* Why Python's parser may refuse a module the reader takes: the oracle
	 * may then say ERROR (and must otherwise agree); NULL: it must agree. */
	const char *oracle_skip;
};

static const struct pycase cases[] = {
    /* Literals and the forms of an assignment. */
    CASE("plain", "NUM_GPUS = 4\n", LIT, 4, 1),
    CASE("no_newline_at_end", "NUM_GPUS = 4", LIT, 4, 1),
    /* Python NFKC-normalises identifiers (PEP 3131): these bind NUM_GPUS. */
    CASE("fullwidth_name", "\xef\xbc\xae\xef\xbc\xb5\xef\xbc\xad_GPUS = 4\n", LIT, 4, 1),
    CASE("math_bold_name", "\xf0\x9d\x90\x8dUM_GPUS = 2\n", LIT, 2, 1),
    CASE("fullwidth_after_plain", "NUM_GPUS = 8\n\xef\xbc\xaeUM_GPUS = 1\n", LIT, 1, 2),
    CASE("accented_is_another_name", "\xc3\x91UM_GPUS = 3\n", NONE, 0, 0),
    CASE("absent", "X = 4\nNUM_GPUSX = 3\nNUM_GPU = 2\n", NONE, 0, 0),
    CASE("empty", "", NONE, 0, 0),
    CASE("annotated", "NUM_GPUS: int = 4\n", LIT, 4, 1),
    CASE("annotation_without_value", "NUM_GPUS: int\n", NONE, 0, 0),
    CASE("annotation_after_literal", "NUM_GPUS = 2\nNUM_GPUS: int\n", LIT, 2, 1),
    CASE("parenthesized_value", "NUM_GPUS = (4)\n", LIT, 4, 1),
    CASE("doubly_parenthesized", "NUM_GPUS = ((4))\n", LIT, 4, 1),
    CASE("parenthesized_target", "(NUM_GPUS) = 4\n", LIT, 4, 1),
    CASE("chained_second", "A = NUM_GPUS = 4\n", LIT, 4, 1),
    CASE("chained_first", "NUM_GPUS = B = 8\n", LIT, 8, 1),
    CASE("no_spaces_and_comment", "NUM_GPUS=4  # four GPUs\n", LIT, 4, 1),
    CASE("underscores", "NUM_GPUS = 4_0\n", LIT, 40, 1),
    CASE("hex", "NUM_GPUS = 0x8\n", LIT, 8, 1),
    CASE("hex_upper_underscore", "NUM_GPUS = 0X_F_F\n", LIT, 255, 1),
    CASE("octal", "NUM_GPUS = 0o10\n", LIT, 8, 1),
    CASE("binary", "NUM_GPUS = 0b1\n", LIT, 1, 1),
    CASE("binary_underscore", "NUM_GPUS = 0B_10_10\n", LIT, 10, 1),
    CASE("zero", "NUM_GPUS = 0\n", LIT, 0, 1),
    CASE("zeros", "NUM_GPUS = 0_00\n", LIT, 0, 1),
    CASE("int64_max", "NUM_GPUS = 9223372036854775807\n", LIT, INT64_MAX, 1),
    CASE("above_int64", "NUM_GPUS = 9223372036854775808\n", NON, 0, 1),
    CASE("hex_above_int64", "NUM_GPUS = 0x1_0000_0000_0000_0000\n", NON, 0, 1),
    CASE("last_of_several", "NUM_GPUS = 1\nNUM_GPUS = 2\n\nNUM_GPUS = 8\n", LIT, 8, 4),

    /* Values that are not an int literal. */
    CASE("negative", "NUM_GPUS = -1\n", NON, 0, 1),
    CASE("unary_plus", "NUM_GPUS = +4\n", NON, 0, 1),
    CASE("float", "NUM_GPUS = 4.0\n", NON, 0, 1),
    CASE("float_exponent", "NUM_GPUS = 4e0\n", NON, 0, 1),
    CASE("imaginary", "NUM_GPUS = 4j\n", NON, 0, 1),
    CASE("bool", "NUM_GPUS = True\n", NON, 0, 1),
    CASE("string", "NUM_GPUS = '4'\n", NON, 0, 1),
    CASE("environ_call", "import os\nNUM_GPUS = int(os.environ.get(\"N\", 4))\n", NON, 0, 2),
    CASE("other_name", "N = 4\nNUM_GPUS = N\n", NON, 0, 2),
    CASE("sum", "NUM_GPUS = (4) + 1\n", NON, 0, 1),
    CASE("conditional_expression", "NUM_GPUS = 4 if x else 2\n", NON, 0, 1),
    CASE("keyword_after_number", "NUM_GPUS = 1if x else 2\n", NON, 0, 1),
    CASE("tuple_value", "NUM_GPUS = 4, 5\n", NON, 0, 1),
    CASE("one_tuple_value", "NUM_GPUS = (4,)\n", NON, 0, 1),
    CASE("tuple_target", "NUM_GPUS, X = 4, 5\n", NON, 0, 1),
    CASE("tuple_target_second", "X, NUM_GPUS = 4, 5\n", NON, 0, 1),
    CASE("list_target", "[NUM_GPUS] = [4]\n", NON, 0, 1),
    CASE("starred_target", "*NUM_GPUS, = 4, 5\n", NON, 0, 1),
    CASE("nested_target", "a, (b, NUM_GPUS) = 1, (2, 3)\n", NON, 0, 1),
    CASE("augmented", "NUM_GPUS = 4\nNUM_GPUS += 1\n", NON, 0, 2),
    CASE("augmented_power", "NUM_GPUS = 4\nNUM_GPUS **= 2\n", NON, 0, 2),
    CASE("walrus", "NUM_GPUS = 4\n(NUM_GPUS := 8)\n", NON, 0, 2),
    CASE("walrus_in_call", "print(NUM_GPUS := 8)\n", NON, 0, 1),
    CASE("walrus_in_comprehension", "NUM_GPUS = 2\nx = [NUM_GPUS := i for i in range(3)]\n", NON, 0,
         2),
    CASE("walrus_in_lambda", "NUM_GPUS = 2\nf = lambda: (NUM_GPUS := 4)\n", LIT, 2, 1),
    CASE("walrus_after_nested_lambda", "NUM_GPUS = 2\nf = (lambda: lambda: 0, (NUM_GPUS := 4))\n",
         NON, 0, 2),
    CASE("comprehension_variable", "NUM_GPUS = 2\nx = [NUM_GPUS for NUM_GPUS in range(3)]\n", LIT,
         2, 1),
    CASE("lambda_parameter", "NUM_GPUS = 2\nf = lambda NUM_GPUS=4: NUM_GPUS\n", LIT, 2, 1),
    CASE("keyword_argument", "f(NUM_GPUS=4)\n", NONE, 0, 0),
    CASE("comparison", "NUM_GPUS = 1\nNUM_GPUS == 4\n", LIT, 1, 1),
    CASE("del", "NUM_GPUS = 4\ndel NUM_GPUS\n", NON, 0, 2),
    CASE("del_item", "NUM_GPUS = 4\ndel NUM_GPUS[0], x.NUM_GPUS\n", LIT, 4, 1),
    CASE("global_at_top_level", "NUM_GPUS = 4\nglobal NUM_GPUS\n", LIT, 4, 1),
    CASE("attribute_and_item", "NUM_GPUS = 4\nNUM_GPUS.x = 5\nNUM_GPUS[0] = 6\nx.NUM_GPUS = 7\n",
         LIT, 4, 1),
    CASE("import_as", "import os as NUM_GPUS\n", NON, 0, 1),
    CASE("import_package", "NUM_GPUS = 1\nimport NUM_GPUS.sub\n", NON, 0, 2),
    CASE("from_import", "from m import NUM_GPUS\n", NON, 0, 1),
    CASE("from_import_parenthesized", "NUM_GPUS = 1\nfrom .m import (a,\n    NUM_GPUS,\n)\n", NON,
         0, 2),
    CASE("from_import_renamed", "from m import NUM_GPUS as X\n", NONE, 0, 0),
    CASE("from_import_star", "NUM_GPUS = 1\nfrom m import *\n", LIT, 1, 1),
    CASE("def_named", "NUM_GPUS = 1\ndef NUM_GPUS():\n    return 4\n", NON, 0, 2),
    CASE("class_named", "class NUM_GPUS:\n    pass\n", NON, 0, 1),
    CASE_SKIP("type_alias", "NUM_GPUS = 1\ntype NUM_GPUS = int\n", NON, 0, 2,
              "`type` statements are Python 3.12"),
    CASE_SKIP("parser_error_only", "NUM_GPUS = = 4\n", LIT, 4, 1,
              "a parser error, which the reader does not look for"),

    /* Compound statements. */
    CASE("conditional_after_literal", "NUM_GPUS = 4\nif os.environ.get('X'):\n    NUM_GPUS = 8\n",
         COND, 0, 3),
    CASE("literal_after_conditional", "if X:\n    NUM_GPUS = 8\nNUM_GPUS = 4\n", LIT, 4, 3),
    CASE("one_line_if", "if x: NUM_GPUS = 4\n", COND, 0, 1),
    CASE("one_line_if_second", "if x: y = 1; NUM_GPUS = 4\n", COND, 0, 1),
    CASE("else", "if x:\n    pass\nelse:\n    NUM_GPUS = 3\n", COND, 0, 4),
    CASE("try_except",
         "try:\n    import torch\n    NUM_GPUS = 8\nexcept ImportError:\n    NUM_GPUS = 0\n", COND,
         0, 5),
    CASE("import_in_try", "try:\n    from m import NUM_GPUS\nexcept ImportError:\n    pass\n", COND,
         0, 2),
    CASE("finally", "try:\n    pass\nfinally:\n    NUM_GPUS = 1\n", COND, 0, 4),
    CASE("except_star", "try:\n    pass\nexcept* E:\n    NUM_GPUS = 1\n", COND, 0, 4),
    CASE("nested_blocks", "for i in x:\n    while i:\n        if i:\n            NUM_GPUS = 2\n",
         COND, 0, 4),
    CASE("for_else", "for i in x:\n    pass\nelse:\n    NUM_GPUS = 1\n", COND, 0, 4),
    CASE("for_target", "for NUM_GPUS in range(3):\n    pass\n", COND, 0, 1),
    CASE("for_tuple_target", "for i, NUM_GPUS in x:\n    pass\n", COND, 0, 1),
    CASE("for_attribute_target", "NUM_GPUS = 1\nfor x.NUM_GPUS in y:\n    pass\n", LIT, 1, 1),
    CASE("async_for", "async for NUM_GPUS in x:\n    pass\n", COND, 0, 1),
    CASE("with_as", "with open(f) as NUM_GPUS:\n    pass\n", COND, 0, 1),
    CASE("with_parenthesized", "with (open(a) as f,\n      open(b) as NUM_GPUS):\n    pass\n", COND,
         0, 1),
    CASE("with_attribute", "NUM_GPUS = 1\nwith a as x.NUM_GPUS:\n    pass\n", LIT, 1, 1),
    CASE("except_as", "try:\n    pass\nexcept E as NUM_GPUS:\n    pass\n", COND, 0, 3),
    CASE("walrus_in_if", "if (NUM_GPUS := 4):\n    pass\n", COND, 0, 1),
    CASE("walrus_in_while", "while (NUM_GPUS := f()) > 4:\n    pass\n", COND, 0, 1),
    CASE("match_capture",
         "match x:\n    case 1:\n        NUM_GPUS = 2\n    case NUM_GPUS:\n        pass\n", COND, 0,
         4),
    CASE("match_body", "match x:\n    case [1, *rest]:\n        NUM_GPUS = 2\n", COND, 0, 3),
    CASE("match_keyword_pattern", "NUM_GPUS = 1\nmatch x:\n    case C(NUM_GPUS=3):\n        pass\n",
         LIT, 1, 1),
    CASE("match_value_pattern", "NUM_GPUS = 1\nmatch x:\n    case C.NUM_GPUS:\n        pass\n", LIT,
         1, 1),
    CASE("match_class_pattern", "NUM_GPUS = 1\nmatch x:\n    case NUM_GPUS():\n        pass\n", LIT,
         1, 1),
    CASE("match_mapping_rest", "match x:\n    case {'a': 1, **NUM_GPUS}:\n        pass\n", COND, 0,
         2),
    CASE("match_guard_walrus", "match x:\n    case y if (NUM_GPUS := y):\n        pass\n", COND, 0,
         2),
    CASE("match_as_name", "match = 4\nNUM_GPUS = match\n", NON, 0, 2),
    CASE("match_call", "match(x)\nNUM_GPUS = 3\n", LIT, 3, 2),

    /* The __main__ guard. */
    CASE("main_guard", "NUM_GPUS = 4\nif __name__ == \"__main__\":\n    NUM_GPUS = 8\n", LIT, 4, 1),
    CASE("main_guard_reversed", "NUM_GPUS = 4\nif '__main__' == __name__:\n    NUM_GPUS = 8\n", LIT,
         4, 1),
    CASE("main_guard_parenthesized", "if (__name__ == \"__main__\"):\n    NUM_GPUS = 8\n", NONE, 0,
         0),
    CASE("main_guard_triple_quoted", "if __name__ == '''__main__''':\n    NUM_GPUS = 8\n", NONE, 0,
         0),
    CASE("main_guard_inline", "if __name__ == \"__main__\": NUM_GPUS = 8\n", NONE, 0, 0),
    CASE("main_guard_else",
         "if __name__ == \"__main__\":\n    NUM_GPUS = 8\nelse:\n    NUM_GPUS = 2\n", COND, 0, 4),
    CASE("main_guard_elif", "if x:\n    pass\nelif __name__ == '__main__':\n    NUM_GPUS = 3\n",
         NONE, 0, 0),
    CASE("main_guard_nested", "if x:\n    if __name__ == '__main__':\n        NUM_GPUS = 3\n", NONE,
         0, 0),
    CASE("not_equal_is_no_guard", "if __name__ != \"__main__\":\n    NUM_GPUS = 2\n", COND, 0, 2),
    CASE("and_is_no_guard", "if __name__ == \"__main__\" and x:\n    NUM_GPUS = 1\n", COND, 0, 2),
    CASE("bytes_is_no_guard", "if __name__ == b\"__main__\":\n    NUM_GPUS = 1\n", COND, 0, 2),
    CASE("main_guard_then_literal",
         "if __name__ == \"__main__\":\n    NUM_GPUS = 8\n    main()\nNUM_GPUS = 2\n", LIT, 2, 4),

    /* Functions, classes, decorators. */
    CASE("def_body", "def f():\n    NUM_GPUS = 8\n", NONE, 0, 0),
    CASE("def_global", "def f():\n    global NUM_GPUS\n    NUM_GPUS = 8\nNUM_GPUS = 1\n", LIT, 1,
         4),
    CASE("async_def_body", "async def f():\n    NUM_GPUS = 8\n", NONE, 0, 0),
    CASE("one_line_def", "def f(): NUM_GPUS = 3\n", NONE, 0, 0),
    CASE("class_body", "class C(Base, metaclass=M):\n    NUM_GPUS = 1\nNUM_GPUS = 2\n", LIT, 2, 3),
    CASE("def_in_if", "if x:\n    def f():\n        NUM_GPUS = 3\n", NONE, 0, 0),
    CASE("decorator", "@dec(NUM_GPUS := 3)\ndef f(): pass\n", NONE, 0, 0),
    CASE("parameter_default", "def f(x=(NUM_GPUS := 3)): pass\n", NONE, 0, 0),
    CASE("class_bases", "class C((NUM_GPUS := object)): pass\n", NONE, 0, 0),

    /* Strings, docstrings and comments. */
    CASE("module_docstring", "\"\"\"Doc.\n\nNUM_GPUS = 9\n\"\"\"\nNUM_GPUS = 2\n", LIT, 2, 5),
    CASE("docstring_only", "\"\"\"\nNUM_GPUS = 9\n\"\"\"\n", NONE, 0, 0),
    CASE("raw_docstring", "r'''\nNUM_GPUS = 9\n'''\n", NONE, 0, 0),
    CASE("function_docstring",
         "def f():\n    '''\nNUM_GPUS = 9\n    '''\n    return 1\nNUM_GPUS = 3\n", LIT, 3, 6),
    CASE("escaped_single_triple", "x = '''a \\''' b\nNUM_GPUS = 9\n'''\nNUM_GPUS = 1\n", LIT, 1, 4),
    CASE("escaped_double_triple", "x = \"\"\"a \\\"\"\" b\nNUM_GPUS = 9\n\"\"\"\nNUM_GPUS = 1\n",
         LIT, 1, 4),
    CASE("quotes_in_triple", "x = \"\"\" \"q\" \"\"\nNUM_GPUS = 9\n\"\"\"\n", NONE, 0, 0),
    CASE("escaped_newline_in_string", "x = 'ab\\\nNUM_GPUS = 9'\nNUM_GPUS = 1\n", LIT, 1, 3),
    CASE("hash_in_string", "x = \"# not a comment\"; NUM_GPUS = 3\n", LIT, 3, 1),
    CASE("commented_out", "# NUM_GPUS = 3\nNUM_GPUS = 1\n#NUM_GPUS = 5\n", LIT, 1, 2),
    CASE("quote_in_comment", "# it's\nNUM_GPUS = 1  # \"8\n", LIT, 1, 2),
    CASE("prefixes", "x = rb'\\'' ; NUM_GPUS = 2\n", LIT, 2, 1),
    CASE("prefix_combinations",
         "x = (f\"{a!r}\", Rb'x', bR\"y\", U'z', fR'{b}', rf\"c\", BR'd', u\"\"\"e\"\"\")\n"
         "NUM_GPUS = 2\n",
         LIT, 2, 2),
    CASE("fstring_text", "x = f\"NUM_GPUS = {n}\"\nNUM_GPUS = 1\n", LIT, 1, 2),
    CASE("fstring_triple", "x = f'''\nNUM_GPUS = {n}\n'''\n", NONE, 0, 0),
    CASE_SKIP("fstring_nested_quotes", "x = f\"{d[\"k\"]}\"\nNUM_GPUS = 2\n", LIT, 2, 2,
              "f-strings nesting their own quotes are Python 3.12"),
    CASE("prefix_letters_as_names", "ub = 1; rb = 2\nNUM_GPUS = rb\n", NON, 0, 2),
    CASE("brackets_in_strings", "x = (\n  '(', \"[\"  # ]\n)\nNUM_GPUS = 3\n", LIT, 3, 4),

    /* Lines: continuations, brackets, semicolons, indentation, line ends. */
    CASE("continuation", "NUM_GPUS = \\\n    4\n", LIT, 4, 1),
    CASE("continuation_before_equals", "if x:\n    pass\nNUM_GPUS \\\n= 4\n", LIT, 4, 3),
    CASE("continuation_then_blank", "NUM_GPUS = 4 \\\n\n", LIT, 4, 1),
    CASE("brackets_across_lines", "x = dict(\nNUM_GPUS=3,\n)\nNUM_GPUS = (\n    4\n)\n", LIT, 4, 4),
    CASE("brackets_with_comments", "NUM_GPUS = (  # gpus\n\n    8  # eight\n)\n", LIT, 8, 1),
    CASE("semicolons", "x = 1; NUM_GPUS = 2; y = 3\n", LIT, 2, 1),
    CASE("semicolon_last_wins", "NUM_GPUS = 2; NUM_GPUS = x\n", NON, 0, 1),
    CASE("trailing_semicolon", "NUM_GPUS = 2;\n", LIT, 2, 1),
    CASE("tab_block", "if x:\n\tpass\nNUM_GPUS = 2\n", LIT, 2, 3),
    CASE("tab_in_body", "if x:\n\tNUM_GPUS = 2\n", COND, 0, 2),
    CASE("tab_then_spaces", "if x:\n\t    a = 1\n\t    NUM_GPUS = 2\n", COND, 0, 3),
    CASE("comment_at_odd_indent", "if x:\n    a = 1\n  # comment\n    NUM_GPUS = 2\n", COND, 0, 4),
    CASE("blank_lines_in_block", "if x:\n    a = 1\n   \n\n    NUM_GPUS = 2\nNUM_GPUS = 3\n", LIT,
         3, 6),
    CASE("comment_after_header", "if x:  # why\n    NUM_GPUS = 1\n", COND, 0, 2),
    CASE("crlf", "X = 1\r\nNUM_GPUS = 4\r\n", LIT, 4, 2),
    CASE("crlf_triple_quoted", "'''\r\nNUM_GPUS = 9\r\n'''\r\nNUM_GPUS = 1\r\n", LIT, 1, 4),
    CASE("crlf_block", "if x:\r\n    NUM_GPUS = 9\r\nNUM_GPUS = 1\r\n", LIT, 1, 3),
    CASE("continuation_before_final_crlf", "NUM_GPUS = 4\r\n\\\r\n", LIT, 4, 1),
    CASE("continuation_before_final_lf", "NUM_GPUS = 4\n\\\n", ERR, 0, 2),
    CASE("cr", "X = 1\rNUM_GPUS = 4\r", LIT, 4, 2),
    CASE("cr_continuation", "NUM_GPUS = \\\r4\r", LIT, 4, 1),
    CASE("cr_triple_quoted", "x = '''\rNUM_GPUS = 9\r'''\rNUM_GPUS = 1\r", LIT, 1, 4),
    CASE("bom", "\xef\xbb\xbfNUM_GPUS = 4\n", LIT, 4, 1),
    CASE("form_feed", "\fNUM_GPUS = 4\n\f\nX = 1\n", LIT, 4, 1),
    CASE("trailing_spaces_at_end", "NUM_GPUS = 4\n    ", LIT, 4, 1),
    CASE("trailing_comment_at_end", "NUM_GPUS = 4\n    # end", LIT, 4, 1),
    CASE("unicode_name", "\xc3\xa9 = 1; NUM_GPUS = 2\n", LIT, 2, 1),

    /* Errors: where Python's tokenizer fails. */
    CASE("unterminated_string", "NUM_GPUS = 4\nx = 'abc\n", ERR, 0, 2),
    CASE("unterminated_triple", "x = 1\ny = '''abc\n\nNUM_GPUS = 4\n", ERR, 0, 2),
    CASE("unterminated_triple_double", "x = \"\"\"\n", ERR, 0, 1),
    CASE("raw_backslash_quote", "x = r'\\'\n", ERR, 0, 1),
    CASE("never_closed", "NUM_GPUS = (4\n", ERR, 0, 1),
    CASE("never_closed_list", "x = [1,\n2,\n", ERR, 0, 1),
    CASE("unmatched", "NUM_GPUS = 4)\n", ERR, 0, 1),
    CASE("mismatched", "x = (\n1]\n", ERR, 0, 2),
    CASE("bad_dedent", "if x:\n    a = 1\n  NUM_GPUS = 2\n", ERR, 0, 3),
    CASE("unexpected_indent", "x = 1\n  NUM_GPUS = 2\n", ERR, 0, 2),
    CASE("unexpected_indent_crlf", "x = 1\r\n\r\n  NUM_GPUS = 2\r\n", ERR, 0, 3),
    CASE("form_feed_then_indent", "\f  NUM_GPUS = 4\n", ERR, 0, 1),
    CASE("missing_block", "if x:\nNUM_GPUS = 2\n", ERR, 0, 2),
    CASE("missing_block_at_end", "NUM_GPUS = 2\nif x:\n", ERR, 0, 2),
    CASE("tabs_inconsistent", "if x:\n        a = 1\n\tNUM_GPUS = 2\n", ERR, 0, 3),
    CASE("after_continuation", "NUM_GPUS = \\ 4\n", ERR, 0, 1),
    CASE("continuation_at_end", "NUM_GPUS = 4 \\\n", ERR, 0, 1),
    CASE("leading_zero", "NUM_GPUS = 04\n", ERR, 0, 1),
    CASE("trailing_underscore", "NUM_GPUS = 1_\n", ERR, 0, 1),
    CASE("double_underscore", "NUM_GPUS = 1__0\n", ERR, 0, 1),
    CASE("empty_hex", "NUM_GPUS = 0x\n", ERR, 0, 1),
    CASE("octal_digit", "NUM_GPUS = 0o8\n", ERR, 0, 1),
    CASE("binary_digit", "NUM_GPUS = 0b12\n", ERR, 0, 1),
    CASE("number_into_name", "NUM_GPUS = 4abc\n", ERR, 0, 1),
    CASE("float_into_name", "x = 1.__add__\n", ERR, 0, 1),
    CASE("exponent_without_digits", "x = 1e+\n", ERR, 0, 1),
};

static const char *kind_name(int kind)
{
	switch (kind) {
	case NONE:
		return "ABSENT";
	case LIT:
		return "LITERAL";
	case NON:
		return "NONLITERAL";
	case COND:
		return "CONDITIONAL";
	default:
		return "ERROR";
	}
}

/* What the reader says of src, in the oracle's words: "KIND VALUE LINE", "ABSENT", "ERROR LINE". */
static void read_as_oracle(const char *src, size_t len, struct strbuf *out)
{
	struct diag d = DIAG_INIT;
	struct py_int_assign a;
	strbuf_reset(out);
	if (py_top_int(src, len, "t.py", "NUM_GPUS", &a, &d)) {
		assert_int_equal(d.code, DIAG_INPUT);
		assert_string_equal(d.loc.file, "t.py");
		assert_true(d.loc.line > 0 && d.loc.col > 0);
		assert_true(d.msg.len > 0);
		assert_int_equal(a.kind, NONE);
		strbuf_addf(out, "ERROR %u", d.loc.line);
	} else if (a.kind == NONE) {
		assert_int_equal(a.line, 0);
		strbuf_adds(out, "ABSENT");
	} else {
		assert_true(a.line > 0 && a.col > 0);
		strbuf_addf(out, "%s %" PRId64 " %u", kind_name((int)a.kind), a.value, a.line);
	}
	diag_release(&d);
}

static void py_top_int__reads_the_table(void **state)
{
	struct strbuf got = STRBUF_INIT, want = STRBUF_INIT;
	int bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const struct pycase *c = &cases[i];
		read_as_oracle(c->src, strlen(c->src), &got);
		strbuf_reset(&want);
		if (c->want == NONE)
			strbuf_adds(&want, "ABSENT");
		else if (c->want == ERR)
			strbuf_addf(&want, "ERROR %u", c->line);
		else
			strbuf_addf(&want, "%s %" PRId64 " %u", kind_name(c->want), c->value,
			            c->line);
		if (strcmp(got.buf, want.buf)) {
			print_message("case %s: got %s, want %s\n", c->name, got.buf, want.buf);
			bad++;
		}
	}
	strbuf_release(&got);
	strbuf_release(&want);
	assert_int_equal(bad, 0);
}

/* A non-ASCII name at the very end of a buffer with no NUL after it (found by py_fuzz). */
static void py_top_int__folds_a_name_at_the_end_of_an_unterminated_buffer(void **state)
{
	(void)state;
	static const char text[] = "import os as NUM_GPU\xdd"; /* a character cut short */
	size_t len = sizeof(text) - 1;
	char *src = malloc(len); /* exactly the bytes: ASan sees any read past them */
	assert_non_null(src);
	memcpy(src, text, len);
	struct diag d = DIAG_INIT;
	struct py_int_assign a;
	int rc = py_top_int(src, len, "t.py", "NUM_GPUS", &a, &d);
	assert_true(rc == 0 || rc == -1);
	diag_release(&d);
	free(src);
}

/* Columns count characters from 1; the BOM and the bytes of a UTF-8 character count once. */
static void py_top_int__reports_columns_in_characters(void **state)
{
	static const struct {
		const char *src;
		unsigned line, col;
	} want[] = {
	    {"NUM_GPUS = 4\n", 1, 1},
	    {"\xef\xbb\xbfNUM_GPUS = 4\n", 1, 1},
	    {"\xc3\xa9 = 1; NUM_GPUS = 2\n", 1, 8},
	    {"x = '\xe2\x82\xac'; NUM_GPUS = 2\n", 1, 10},
	    {"A = NUM_GPUS = 4\n", 1, 5},
	    {"if x:\n\tNUM_GPUS = 2\n", 2, 2},
	    {"import os as NUM_GPUS\n", 1, 14},
	    {"X = 1\r\n  \r\n(NUM_GPUS) = 4\r\n", 3, 2},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		struct diag d = DIAG_INIT;
		struct py_int_assign a;
		assert_int_equal(
		    py_top_int(want[i].src, strlen(want[i].src), "t.py", "NUM_GPUS", &a, &d), 0);
		assert_int_equal(a.line, want[i].line);
		assert_int_equal(a.col, want[i].col);
		diag_release(&d);
	}
}

/* Errors name file, line and column, in Python's words. */
static void py_top_int__errors_say_where_and_what(void **state)
{
	static const struct {
		const char *src, *msg;
		unsigned line, col;
	} want[] = {
	    {"x = 1\ny = '''abc\n\n",
	     "t.py:2:5: unterminated triple-quoted string literal "
	     "(detected at line 3)",
	     2, 5},
	    {"x = rb'abc\n", "t.py:1:5: unterminated string literal (detected at line 1)", 1, 5},
	    {"\xc3\xa9 = (1,\n", "t.py:1:5: '(' was never closed", 1, 5},
	    {"x = (\n1]\n",
	     "t.py:2:2: closing parenthesis ']' does not match opening parenthesis '(' on line 1",
	     2, 2},
	    {"x = 1}\n", "t.py:1:6: unmatched '}'", 1, 6},
	    {"if x:\n    a = 1\n  b = 2\n",
	     "t.py:3:3: unindent does not match any outer indentation level", 3, 3},
	    {"if x:\n", "t.py:1:6: expected an indented block", 1, 6},
	    {"x = 04\n",
	     "t.py:1:5: leading zeros in decimal integer literals are not permitted; use an 0o "
	     "prefix for octal integers",
	     1, 5},
	    {"x = 0o19\n", "t.py:1:5: invalid digit '9' in octal literal", 1, 5},
	    {"x = 1\n\ty = '\0'\n", "t.py:2:7: source code cannot contain null bytes", 2, 7},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		struct diag d = DIAG_INIT;
		struct py_int_assign a;
		struct strbuf sb = STRBUF_INIT;
		/* Each source runs to its last newline: one has a NUL inside. */
		size_t len = strlen(want[i].src);
		if (strstr(want[i].msg, "null"))
			len += strlen(want[i].src + len + 1) + 1;
		assert_int_equal(py_top_int(want[i].src, len, "t.py", "NUM_GPUS", &a, &d), -1);
		diag_format(&d, &sb);
		assert_string_equal(sb.buf, want[i].msg);
		assert_int_equal(d.loc.line, want[i].line);
		assert_int_equal(d.loc.col, want[i].col);
		strbuf_release(&sb);
		diag_release(&d);
	}
}

/* A vime test file: docstring, imports, constants, prepare(), execute(), the guard. */
static const char vime_test[] =
    "\"\"\"MiMo-7B MTP.\n\nNUM_GPUS = 2 in the docstring does not count.\n\"\"\"\n"
    "import os\n"
    "import time\n"
    "\n"
    "NUM_GPUS = 8\n"
    "MODEL_NAME = \"MiMo-7B-RL\"\n"
    "\n"
    "\n"
    "def prepare():\n"
    "    pass\n"
    "\n"
    "\n"
    "@torch.no_grad()\n"
    "async def execute(n=NUM_GPUS):\n"
    "    def inner():\n"
    "        pass\n"
    "    NUM_GPUS = 1\n"
    "\n"
    "\n"
    "class Helper:\n"
    "    def method(self):\n"
    "        pass\n"
    "\n"
    "\n"
    "if os.environ.get(\"X\"):\n"
    "    def maybe():\n"
    "        pass\n"
    "\n"
    "if __name__ == \"__main__\":\n"
    "    prepare()\n"
    "    NUM_GPUS = 4\n"
    "    execute()\n";

static void py_top_names__lists_top_level_defs_and_the_main_block(void **state)
{
	struct diag d = DIAG_INIT;
	struct py_top top;
	struct py_int_assign a;
	assert_int_equal(py_top_names(vime_test, strlen(vime_test), "t.py", &top, &d), 0);
	assert_true(top.has_main_block);
	assert_int_equal(top.main_line, 32);
	assert_int_equal(top.ndefs, 2);
	assert_false(top.defs_truncated);
	assert_int_equal(top.defs[0].line, 12);
	assert_int_equal(top.defs[1].line, 17);
	assert_true(py_top_has_def(&top, "prepare"));
	assert_true(py_top_has_def(&top, "execute"));
	assert_false(py_top_has_def(&top, "inner"));
	assert_false(py_top_has_def(&top, "method"));
	assert_false(py_top_has_def(&top, "maybe"));
	assert_false(py_top_has_def(&top, "prep"));
	assert_int_equal(py_top_int(vime_test, strlen(vime_test), "t.py", "NUM_GPUS", &a, &d), 0);
	assert_int_equal(a.kind, LIT);
	assert_int_equal(a.value, 8);
	assert_int_equal(a.line, 8);

	static const char no_main[] = "def f(): pass\nif __name__ == '__main__' or x:\n    f()\n";
	assert_int_equal(py_top_names(no_main, strlen(no_main), "t.py", &top, &d), 0);
	assert_false(top.has_main_block);
	assert_int_equal(top.main_line, 0);
	assert_true(py_top_has_def(&top, "f"));

	/* On error, nothing is listed. */
	static const char broken[] = "def f(): pass\nx = (\n";
	assert_int_equal(py_top_names(broken, strlen(broken), "t.py", &top, &d), -1);
	assert_int_equal(top.ndefs, 0);
	diag_release(&d);
}

static void py_top_names__keeps_the_first_64_defs(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	struct py_top top;
	for (int i = 0; i < 70; i++)
		strbuf_addf(&sb, "def f%d():\n    pass\n", i);
	assert_int_equal(py_top_names(sb.buf, sb.len, "t.py", &top, &d), 0);
	assert_int_equal(top.ndefs, PY_TOP_MAX_DEFS);
	assert_true(top.defs_truncated);
	assert_true(py_top_has_def(&top, "f63"));
	assert_false(py_top_has_def(&top, "f64"));
	assert_false(top.has_main_block);
	strbuf_release(&sb);
	diag_release(&d);
}

/* Deep, long and odd inputs: limits hold, time stays linear. */
static void py_top_int__survives_deep_and_huge_inputs(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct diag d = DIAG_INIT;
	struct py_int_assign a;

	/* 200 brackets deep are allowed, 201 are not. */
	for (int depth = 200; depth <= 201; depth++) {
		strbuf_reset(&sb);
		strbuf_adds(&sb, "NUM_GPUS = ");
		for (int i = 0; i < depth; i++)
			strbuf_addch(&sb, '(');
		strbuf_adds(&sb, "4");
		for (int i = 0; i < depth; i++)
			strbuf_addch(&sb, ')');
		strbuf_addch(&sb, '\n');
		int r = py_top_int(sb.buf, sb.len, "t.py", "NUM_GPUS", &a, &d);
		assert_int_equal(r, depth <= 200 ? 0 : -1);
		if (r)
			assert_string_equal(d.msg.buf, "too many nested parentheses");
		else
			assert_int_equal(a.value, 4);
	}

	/* 99 nested blocks are allowed, 100 are not. */
	for (int depth = 99; depth <= 100; depth++) {
		strbuf_reset(&sb);
		for (int i = 0; i < depth; i++)
			strbuf_addf(&sb, "%*sif x:\n", i, "");
		strbuf_addf(&sb, "%*sNUM_GPUS = 1\n", depth, "");
		int r = py_top_int(sb.buf, sb.len, "t.py", "NUM_GPUS", &a, &d);
		assert_int_equal(r, depth < 100 ? 0 : -1);
		if (!r)
			assert_int_equal(a.kind, COND);
	}

	/* 4 MB of assignments, and one logical line of a million tokens. */
	time_t t0 = time(NULL);
	strbuf_reset(&sb);
	for (int i = 0; i < 300000; i++)
		strbuf_addf(&sb, "NUM_GPUS = %d\n", i);
	assert_int_equal(py_top_int(sb.buf, sb.len, "t.py", "NUM_GPUS", &a, &d), 0);
	assert_int_equal(a.value, 299999);
	assert_int_equal(a.line, 300000);
	strbuf_reset(&sb);
	strbuf_adds(&sb, "NUM_GPUS = [");
	for (int i = 0; i < 500000; i++)
		strbuf_adds(&sb, "1,");
	strbuf_adds(&sb, "]\n");
	assert_int_equal(py_top_int(sb.buf, sb.len, "t.py", "NUM_GPUS", &a, &d), 0);
	assert_int_equal(a.kind, NON);
	assert_true(time(NULL) - t0 < 20);

	/* Every byte value at every place of a small module: no crash, and errors are well formed.
	 */
	static const char base[] = "NUM_GPUS = (4)  # c\nif x:\n\ty = 'a'\n";
	char buf[sizeof(base)];
	for (size_t at = 0; at < sizeof(base) - 1; at++) {
		for (int c = 0; c < 256; c++) {
			memcpy(buf, base, sizeof(base));
			buf[at] = (char)c;
			int r = py_top_int(buf, sizeof(base) - 1, "t.py", "NUM_GPUS", &a, &d);
			if (r)
				assert_true(d.loc.line >= 1 && d.loc.line <= 4 && d.loc.col >= 1);
			else
				assert_true(a.line <= 3);
		}
	}
	strbuf_release(&sb);
	diag_release(&d);
}

/* The oracle. */

/* Runs PYTHON3 PY_ORACLE on the files; its output into out. -1: could not; 77: too old a Python. */
static int run_oracle(char **files, size_t nfiles, struct strbuf *out)
{
	char **argv = xcalloc(nfiles + 3, sizeof(*argv));
	posix_spawn_file_actions_t fa;
	int fds[2];
	pid_t pid;
	int status = -1;
	argv[0] = (char *)PYTHON3;
	argv[1] = (char *)PY_ORACLE;
	for (size_t i = 0; i < nfiles; i++)
		argv[i + 2] = files[i];
	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	int err = posix_spawn(&pid, PYTHON3, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (!err) {
		char buf[4096];
		ssize_t n;
		while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
			if (n > 0)
				strbuf_add(out, buf, (size_t)n);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	close(fds[0]);
	free(argv);
	if (err || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Writes each source to a file, asks the oracle, compares line by line; returns disagreements. */
static int compare_with_oracle(const char *const *srcs, const char *const *names,
                               const char *const *skips, size_t n)
{
	char *dir = harness_tmpdir();
	char **files = xcalloc(n, sizeof(*files));
	struct strbuf out = STRBUF_INIT, mine = STRBUF_INIT;
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "case%zu.py", i);
		files[i] = harness_path(dir, name);
		FILE *f = fopen(files[i], "wb");
		assert_non_null(f);
		fwrite(srcs[i], 1, strlen(srcs[i]), f);
		assert_int_equal(fclose(f), 0);
	}
	int rc = run_oracle(files, n, &out);
	if (rc == 77) {
		print_message("the oracle's Python is older than 3.10: not compared\n");
		goto done;
	}
	assert_int_equal(rc, 0);
	const char *line = out.buf;
	for (size_t i = 0; i < n; i++) {
		const char *eol = strchr(line, '\n');
		assert_non_null(eol);
		read_as_oracle(srcs[i], strlen(srcs[i]), &mine);
		size_t len = (size_t)(eol - line);
		bool same = mine.len == len && !memcmp(mine.buf, line, len);
		if (!same && !(skips && skips[i] && !strncmp(line, "ERROR", 5))) {
			print_message("%s: reader %s, Python %.*s\n", names[i], mine.buf, (int)len,
			              line);
			bad++;
		}
		line = eol + 1;
	}
done:
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	strbuf_release(&out);
	strbuf_release(&mine);
	harness_rmtree(dir);
	return bad;
}

static bool have_python(void)
{
	return access(PYTHON3, X_OK) == 0 && access(PY_ORACLE, R_OK) == 0;
}

static void py_top_int__agrees_with_python_on_the_table(void **state)
{
	size_t n = sizeof(cases) / sizeof(*cases);
	if (!have_python())
		skip();
	const char **srcs = xcalloc(n, sizeof(*srcs));
	const char **names = xcalloc(n, sizeof(*names));
	const char **skips = xcalloc(n, sizeof(*skips));
	for (size_t i = 0; i < n; i++) {
		srcs[i] = cases[i].src;
		names[i] = cases[i].name;
		skips[i] = cases[i].oracle_skip;
	}
	int bad = compare_with_oracle(srcs, names, skips, n);
	free(srcs);
	free(names);
	free(skips);
	assert_int_equal(bad, 0);
}

/*
 * Pieces of valid modules, each complete at top level, so that any
 * sequence of them is a valid module.
 */
static const char *const pieces[] = {
    "NUM_GPUS = 4\n",
    "NUM_GPUS: int = 0x10\n",
    "NUM_GPUS = int(os.environ.get('N', 2))\n",
    "A = NUM_GPUS = (8)\n",
    "NUM_GPUS, B = 1, 2\n",
    "NUM_GPUS += 1\n",
    "import os\n",
    "from m import (NUM_GPUS,\n    x)\n",
    "\"\"\"Doc.\nNUM_GPUS = 9\n\"\"\"\n",
    "# NUM_GPUS = 3\n",
    "\n",
    "x = 1; NUM_GPUS = 2\n",
    "NUM_GPUS = \\\n    3\n",
    "x = [\n    1,\n    2,  # c\n]\n",
    "if x:\n    NUM_GPUS = 5\n",
    "if x: NUM_GPUS = 6\n",
    "if x:\n    pass\nelif y:\n    NUM_GPUS = 7\nelse:\n    pass\n",
    "if __name__ == \"__main__\":\n    NUM_GPUS = 1\n    main()\n",
    "if __name__ == '__main__':\n    pass\nelse:\n    NUM_GPUS = 1\n",
    "def prepare():\n    NUM_GPUS = 3\n    return '''\nNUM_GPUS = 4\n'''\n",
    "async def execute():\n    pass\n",
    "class C:\n    NUM_GPUS = 1\n\n    def f(self):\n        pass\n",
    "@dec\ndef g(a=1,\n      b=2):\n    pass\n",
    "try:\n    import torch\nexcept ImportError:\n    NUM_GPUS = 0\nfinally:\n    pass\n",
    "for NUM_GPUS in range(2):\n    pass\n",
    "while x:\n    break\n",
    "with open(p) as f:\n    NUM_GPUS = 1\n",
    "match x:\n    case NUM_GPUS:\n        pass\n",
    "del NUM_GPUS\n",
    "(NUM_GPUS := 3)\n",
    "f = lambda: (NUM_GPUS := 4)\n",
    "y = f'{NUM_GPUS}' + rb'\\'' + \"'\"\n",
    "NUM_GPUS = -1\n",
    "NUM_GPUS = 1_000\n",
    "NUM_GPUS = 2.0\n",
    "if x:\n\tif y:\n\t\tNUM_GPUS = 2\n\telse:\n\t\tpass\n",
    "\fNUM_GPUS = 7\n",
};

static void py_top_int__agrees_with_python_on_random_modules(void **state)
{
	enum { N = 400 };
	static const char *const ends[] = {"\n", "\r\n", "\r"};
	const size_t npieces = sizeof(pieces) / sizeof(*pieces);
	uint64_t seed = 20261126;
	if (!have_python())
		skip();
	char **srcs = xcalloc(N, sizeof(*srcs));
	char **names = xcalloc(N, sizeof(*names));
	for (size_t i = 0; i < N; i++) {
		struct strbuf sb = STRBUF_INIT;
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		unsigned r = (unsigned)(seed >> 33);
		const char *end = ends[r % 3 == 0 ? (r / 3) % 3 : 0];
		if (r % 7 == 0)
			strbuf_adds(&sb, "\xef\xbb\xbf");
		for (unsigned k = 0, m = 1 + (r >> 8) % 6; k < m; k++) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			const char *p = pieces[(seed >> 33) % npieces];
			for (; *p; p++)
				if (*p == '\n')
					strbuf_adds(&sb, end);
				else
					strbuf_addch(&sb, *p);
		}
		srcs[i] = strbuf_detach(&sb, NULL);
		sb = (struct strbuf)STRBUF_INIT;
		strbuf_addf(&sb, "random %zu", i);
		names[i] = strbuf_detach(&sb, NULL);
	}
	int bad =
	    compare_with_oracle((const char *const *)srcs, (const char *const *)names, NULL, N);
	for (size_t i = 0; i < N; i++) {
		free(srcs[i]);
		free(names[i]);
	}
	free(srcs);
	free(names);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(py_top_int__reads_the_table),
	    cmocka_unit_test(py_top_int__reports_columns_in_characters),
	    cmocka_unit_test(py_top_int__folds_a_name_at_the_end_of_an_unterminated_buffer),
	    cmocka_unit_test(py_top_int__errors_say_where_and_what),
	    cmocka_unit_test(py_top_names__lists_top_level_defs_and_the_main_block),
	    cmocka_unit_test(py_top_names__keeps_the_first_64_defs),
	    cmocka_unit_test(py_top_int__survives_deep_and_huge_inputs),
	    cmocka_unit_test(py_top_int__agrees_with_python_on_the_table),
	    cmocka_unit_test(py_top_int__agrees_with_python_on_random_modules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
