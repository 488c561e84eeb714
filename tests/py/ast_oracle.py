#!/usr/bin/env python3
"""The truth about a module's top-level NUM_GPUS, from Python's own parser.

usage: ast_oracle.py [--name NAME] FILE...

For each FILE prints one line, with the rules src/py/pyread.h documents:
    LITERAL VALUE LINE | NONLITERAL 0 LINE | CONDITIONAL 0 LINE | ABSENT
    | ERROR LINE (the file does not compile; LINE is 0 where Python gives none)
LINE is that of the statement that binds the name last in source order.

The file is compiled from its bytes, so a BOM and line ends are Python's
business. Only the parser runs (compile with PyCF_ONLY_AST): errors the
compiler finds later, such as `return` outside a function, do not count.
"""
import ast
import sys
import warnings

INT64_MAX = 2**63 - 1


class Reader:
    def __init__(self, name):
        self.name = name
        self.last = None  # (kind, value, line)

    def note(self, cond, kind, value, line):
        if cond:
            kind, value = "CONDITIONAL", 0
        self.last = (kind, value, line)

    # Where the name is bound.

    def binds(self, target):
        """'plain' (the name), 'nested' (in a tuple, list or starred), None."""
        if isinstance(target, ast.Name):
            return "plain" if target.id == self.name else None
        if isinstance(target, ast.Starred):
            return "nested" if self.binds(target.value) else None
        if isinstance(target, (ast.Tuple, ast.List)):
            return "nested" if any(self.binds(e) for e in target.elts) else None
        return None

    def walrus(self, node):
        """A `name :=` in node, not inside a lambda."""
        if node is None:
            return False
        todo = [node]
        while todo:
            n = todo.pop()
            if isinstance(n, ast.Lambda):
                continue
            if isinstance(n, ast.NamedExpr) and n.target.id == self.name:
                return True
            todo.extend(ast.iter_child_nodes(n))
        return False

    @staticmethod
    def literal(value):
        if isinstance(value, ast.Constant) and type(value.value) is int:
            if 0 <= value.value <= INT64_MAX:
                return value.value
        return None

    @staticmethod
    def is_main_guard(test):
        def is_name(n):
            return isinstance(n, ast.Name) and n.id == "__name__"

        def is_main(n):
            return isinstance(n, ast.Constant) and n.value == "__main__" and type(n.value) is str

        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
            return False
        a, b = test.left, test.comparators[0]
        return (is_name(a) and is_main(b)) or (is_main(a) and is_name(b))

    def captures(self, pattern):
        for n in ast.walk(pattern):
            if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name == self.name:
                return True
            if isinstance(n, ast.MatchMapping) and n.rest == self.name:
                return True
        return False

    # Statements.

    def block(self, stmts, cond):
        for s in stmts:
            self.stmt(s, cond)

    def stmt(self, s, cond):
        line = s.lineno
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if s.name == self.name:
                self.note(cond, "NONLITERAL", 0, line)
        elif isinstance(s, ast.If):
            if self.is_main_guard(s.test):
                self.block(s.orelse, True)
                return
            if self.walrus(s.test):
                self.note(True, "", 0, line)
            self.block(s.body, True)
            self.block(s.orelse, True)
        elif isinstance(s, (ast.For, ast.AsyncFor)):
            if self.walrus(s.iter) or self.binds(s.target):
                self.note(True, "", 0, line)
            self.block(s.body, True)
            self.block(s.orelse, True)
        elif isinstance(s, ast.While):
            if self.walrus(s.test):
                self.note(True, "", 0, line)
            self.block(s.body, True)
            self.block(s.orelse, True)
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                if self.walrus(item.context_expr) or (
                    item.optional_vars is not None and self.binds(item.optional_vars)
                ):
                    self.note(True, "", 0, line)
            self.block(s.body, True)
        elif isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.block(s.body, True)
            for h in s.handlers:
                if h.name == self.name or self.walrus(h.type):
                    self.note(True, "", 0, h.lineno)
                self.block(h.body, True)
            self.block(s.orelse, True)
            self.block(s.finalbody, True)
        elif isinstance(s, ast.Match):
            if self.walrus(s.subject):
                self.note(True, "", 0, line)
            for case in s.cases:
                if self.captures(case.pattern) or self.walrus(case.guard):
                    self.note(True, "", 0, case.pattern.lineno)
                self.block(case.body, True)
        else:
            self.simple(s, cond)

    def simple(self, s, cond):
        line = s.lineno
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            for a in s.names:
                bound = a.asname or (a.name.split(".")[0] if isinstance(s, ast.Import) else a.name)
                if bound == self.name:
                    self.note(cond, "NONLITERAL", 0, line)
            return
        if isinstance(s, ast.Delete):
            if any(self.binds(t) for t in s.targets):
                self.note(cond, "NONLITERAL", 0, line)
            return
        if type(s).__name__ == "TypeAlias":
            if s.name.id == self.name:
                self.note(cond, "NONLITERAL", 0, line)
            return
        if isinstance(s, ast.Assign):
            kinds = [self.binds(t) for t in s.targets]
        elif isinstance(s, ast.AnnAssign):
            kinds = [self.binds(s.target)] if s.value is not None else []
        elif isinstance(s, ast.AugAssign):
            kinds = ["nested" if self.binds(s.target) else None]
        else:
            kinds = []
        if any(kinds):
            v = self.literal(s.value)
            if "nested" in kinds or v is None:
                self.note(cond, "NONLITERAL", 0, line)
            else:
                self.note(cond, "LITERAL", v, line)
        elif self.walrus(s):
            self.note(cond, "NONLITERAL", 0, line)


def read(path, name):
    with open(path, "rb") as f:
        src = f.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # `1if x else 2` and the like
            tree = compile(src, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        return "ERROR %d" % (getattr(e, "lineno", None) or 0)
    r = Reader(name)
    r.block(tree.body, False)
    if r.last is None:
        return "ABSENT"
    return "%s %d %d" % r.last


def main(argv):
    name = "NUM_GPUS"
    if argv[:1] == ["--name"]:
        name, argv = argv[1], argv[2:]
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    if sys.version_info < (3, 10):
        return 77  # no match statement: the test skips the comparison
    for path in argv:
        print(read(path, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
