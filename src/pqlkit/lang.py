"""The expression language of model files: the Python API's syntax, parsed without ``eval``.

A condition in a model file is written exactly as in Python —
``(count('pricing_page_viewed', within='30d') >= 1) & (trait('role') == 'admin')`` — and
``repr`` of any expression is text this module reads back. :mod:`ast` only parses (it runs
nothing); the tree is then walked against a whitelist: comparisons, ``& | ~``, ``and or
not``, ``+ - * /``, calls of the signals and decays in :mod:`pqlkit.plugins`, a few methods
(``.isin``, ``.is_missing``, ``.startswith`` …) and string, number, ``True``/``False``/
``None``, list, tuple and dict literals. Anything else is refused with its position and what
is allowed. Every failure is an :class:`~pqlkit.errors.ExpressionError`.

>>> parse_expr("count('invite', within='14d') >= 2 and trait('role') == 'admin'")
(count('invite', within='14d') >= 2) & (trait('role') == 'admin')
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import warnings
from collections.abc import Callable
from typing import Any, Final, NoReturn

from pqlkit.errors import ExpressionError, PluginError
from pqlkit.expr import Expr, about_digits, too_big
from pqlkit.plugins import Kind, Registry, registry

__all__ = ["ALLOWED", "MAX_DEPTH", "MAX_LENGTH", "METHODS", "parse_decay", "parse_expr"]

#: The longest expression text accepted, in characters.
MAX_LENGTH: Final = 100_000
#: The deepest nesting accepted (each operator, call or literal is a level).
MAX_DEPTH: Final = 200

#: The methods an expression may call on a signal, trait or property.
METHODS: Final = (
    "isin", "is_missing", "is_present", "startswith", "endswith", "contains", "lower",
    "with_window", "with_since_signup", "filtered",
)

#: What the language accepts, as said in every refusal.
ALLOWED: Final = (
    "an expression may use comparisons (< <= > >= == !=), & | ~ (or and, or, not), "
    "+ - * /, parentheses, calls of signals such as count(...) and decays such as "
    "HalfLife('14d'), at('2026-05-01T00:00:00Z') for a moment, the methods " + ", ".join(f".{m}()" for m in METHODS)
    + ", and string, number, True/False/None and list literals"
)

_BINOPS: Final[dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.BitAnd: ("&", operator.and_),
    ast.BitOr: ("|", operator.or_),
}
_CMPOPS: Final[dict[type[ast.cmpop], tuple[str, Callable[[Any, Any], Any]]]] = {
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
}
_REFUSED_CMP: Final[dict[type[ast.cmpop], str]] = {
    ast.In: "'in' is not allowed; test membership with .isin([...])",
    ast.NotIn: "'not in' is not allowed; write ~x.isin([...])",
    ast.Is: "'is' is not allowed; test for a missing value with .is_missing()",
    ast.IsNot: "'is not' is not allowed; test for a value with .is_present()",
}
_REFUSED_OPS: Final[dict[type[ast.operator], str]] = {
    ast.Pow: "**", ast.Mod: "%", ast.FloorDiv: "//", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitXor: "^", ast.MatMult: "@",
}
_NODE_WORDS: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "a lambda",
    ast.IfExp: "a conditional expression (x if c else y)",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Subscript: "indexing or slicing ([...] after a value)",
    ast.Slice: "a slice",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "an assignment (:=)",
    ast.Set: "a set literal ({...}); use a list [...]",
    ast.Starred: "unpacking (*)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

_Value = Any  # an Expr, a decay, or a literal (str, int, float, bool, None, list, tuple, dict)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_decay(value: Any) -> bool:
    return not isinstance(value, (Expr, type)) and callable(getattr(value, "apply", None))


def _describe(value: Any) -> str:
    if too_big(value):
        return f"<{about_digits(value)}>"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


class _Parser:
    def __init__(self, text: str, path: str, reg: Registry) -> None:
        self.text = text
        self.path = path
        self.reg = reg
        # ast refuses leading indentation, which multi-line strings in files often have:
        # parse the text without it and map positions back.
        self.src = text.lstrip() if isinstance(text, str) else ""
        lead = text[: len(text) - len(self.src)] if isinstance(text, str) else ""
        self.line_shift = lead.count("\n")
        self.col_shift = len(lead) - (lead.rfind("\n") + 1)
        self.src_lines = self.src.splitlines() or [""]

    # -- errors ----------------------------------------------------------------------------

    def position(self, lineno: int, char_col: int) -> tuple[int, int]:
        """A 1-based (line, column) in the original text from one in the parsed text."""
        if lineno == 1:
            char_col += self.col_shift
        return lineno + self.line_shift, char_col

    def fail(self, node: ast.AST | None, reason: str, *, allowed: bool = False) -> NoReturn:
        line = column = None
        lineno = getattr(node, "lineno", None)
        if lineno is not None:
            src_line = self.src_lines[lineno - 1] if 0 < lineno <= len(self.src_lines) else ""
            # ast columns count UTF-8 bytes; people count characters.
            offset = getattr(node, "col_offset", 0)
            chars = len(src_line.encode("utf-8")[:offset].decode("utf-8", "replace"))
            line, column = self.position(lineno, chars + 1)
        self.raise_at(reason, line, column, allowed=allowed)

    def raise_at(self, reason: str, line: int | None, column: int | None, *,
                 allowed: bool = False) -> NoReturn:
        where = self.path or _describe(self.text)
        if line is not None:
            where += (f", column {column}" if "\n" not in self.text.strip()
                      else f", line {line}, column {column}")
        tail = f"; {ALLOWED}" if allowed else ""
        message = f"{where}: {reason}{tail}"
        raise ExpressionError(message, text=self.text, reason=reason, path=self.path,
                              line=line, column=column)

    # -- entry -----------------------------------------------------------------------------

    def parse(self) -> _Value:
        if not isinstance(self.text, str):
            self.raise_at(
                f"an expression must be text, got {_describe(self.text)} "
                f"({type(self.text).__name__})", None, None)
        if len(self.text) > MAX_LENGTH:
            self.raise_at(f"the expression is longer than {MAX_LENGTH} characters", None, None)
        if not self.text.strip():
            self.raise_at("the expression is empty", None, None)
        try:
            with warnings.catch_warnings():
                # Python warns about text like '1and x' or '\.' and reads it anyway; so do we,
                # the same whatever the warning filters (pytest turns warnings into errors).
                warnings.simplefilter("ignore")
                tree = ast.parse(self.src, mode="eval")
        except SyntaxError as exc:
            self._syntax_error(exc)
        except RecursionError:  # (Python's own parser, past about a thousand levels)
            self.raise_at(f"the expression is nested deeper than {MAX_DEPTH} levels; split it "
                          "into several rules", None, None)
        except (ValueError, MemoryError, OverflowError) as exc:
            self.raise_at(f"the expression cannot be parsed ({type(exc).__name__})", None, None)
        try:
            return self.value(tree.body, 0)
        except RecursionError:
            self.raise_at(f"the expression is nested deeper than {MAX_DEPTH} levels; split it "
                          "into several rules", None, None)

    def _syntax_error(self, exc: SyntaxError) -> NoReturn:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = ast.parse(self.src, mode="exec")
        except Exception:
            module = None
        if module is not None and module.body and not isinstance(module.body[0], ast.Expr):
            word = type(module.body[0]).__name__.lower()
            self.raise_at(
                f"a statement ({word}) is not allowed: a field holds one expression",
                *self.position(1, 1), allowed=True)
        msg = exc.msg or "invalid syntax"
        if msg == "invalid syntax":
            msg = "this is not an expression of the language"
        if "\n" in self.src.strip() and self._parses_in_parentheses():
            msg += ("; an expression spread over several lines needs parentheses around "
                    "the whole of it, as in Python")
        lineno = exc.lineno if exc.lineno and 0 < exc.lineno <= len(self.src_lines) else None
        if lineno is None:
            self.raise_at(msg, None, None, allowed=True)
        # Python reports offset 0 when the text ends too early: point past its end.
        offset = exc.offset if exc.offset and exc.offset > 0 else len(self.src_lines[lineno - 1]) + 1
        self.raise_at(msg, *self.position(lineno, offset), allowed=True)

    def _parses_in_parentheses(self) -> bool:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse("(" + self.src + "\n)", mode="eval")
        except Exception:
            return False
        return True

    # -- the walk --------------------------------------------------------------------------

    def value(self, node: ast.AST, depth: int) -> _Value:
        if depth > MAX_DEPTH:
            self.fail(node, f"the expression is nested deeper than {MAX_DEPTH} levels; split "
                      "it into several rules")
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            word = _NODE_WORDS.get(type(node), f"{type(node).__name__} syntax")
            self.fail(node, f"{word} is not allowed", allowed=True)
        return method(node, depth + 1)

    def visit_Constant(self, node: ast.Constant, depth: int) -> _Value:
        v = node.value
        if isinstance(v, float) and not math.isfinite(v):
            self.fail(node, f"the number {ast.get_source_segment(self.src, node)} is too large")
        if too_big(v):
            self.fail(node, f"the number {_describe(v)} is too large")
        if v is None or isinstance(v, (str, bool, int, float)):
            return v
        self.fail(node, f"a {type(v).__name__} literal is not allowed", allowed=True)

    def visit_Name(self, node: ast.Name, depth: int) -> _Value:
        name = node.id
        kind: Kind
        for kind in ("signal", "decay"):
            if self.reg.has(kind, name):
                self.fail(node, f"{name!r} is a {kind}: call it, e.g. {name}(...)")
        self.fail(node, self.reg.unknown_message("signal", name, also=("decay",), what="name")
                  + "; names are only allowed as calls of signals and decays, and strings "
                  "need quotes")

    def visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> _Value:
        operand = self.value(node.operand, depth)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            if _is_number(operand):
                return -operand if isinstance(node.op, ast.USub) else operand
            self.fail(node, "a sign (- or +) only goes before a number; write 0 - x to "
                      "negate a signal")
        word = "~" if isinstance(node.op, ast.Invert) else "not"
        if not isinstance(operand, Expr):
            self.fail(node, f"{word} needs a condition, got {_describe(operand)}")
        return self.apply(node, operator.invert, operand)

    def visit_BinOp(self, node: ast.BinOp, depth: int) -> _Value:
        op = type(node.op)
        if op not in _BINOPS:
            self.fail(node, f"the operator {_REFUSED_OPS.get(op, op.__name__)} is not allowed",
                      allowed=True)
        symbol, fn = _BINOPS[op]
        left = self.value(node.left, depth)
        right = self.value(node.right, depth)
        self.operand(node.left, left, symbol)
        self.operand(node.right, right, symbol)
        if not isinstance(left, Expr) and not isinstance(right, Expr):
            if symbol in "+-*/" and _is_number(left) and _is_number(right):
                return self.fold(node, fn, left, right)
            self.fail(node, f"{symbol} needs a signal or condition on at least one side, got "
                      f"{_describe(left)} and {_describe(right)}")
        return self.apply(node, fn, left, right)

    def fold(self, node: ast.AST, fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
        try:
            out = fn(a, b)
        except ZeroDivisionError:
            self.fail(node, "division by zero")
        except OverflowError:
            self.fail(node, "the number is too large")
        if (isinstance(out, float) and not math.isfinite(out)) or too_big(out):
            self.fail(node, "the number is too large")
        return out

    def visit_BoolOp(self, node: ast.BoolOp, depth: int) -> _Value:
        word = "and" if isinstance(node.op, ast.And) else "or"
        fn = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        values = [self.value(v, depth) for v in node.values]
        for child, v in zip(node.values, values, strict=True):
            if not isinstance(v, Expr):
                self.fail(child, f"{word} needs conditions on both sides, got {_describe(v)}")
        out = values[0]
        for v in values[1:]:
            out = self.apply(node, fn, out, v)
        return out

    def visit_Compare(self, node: ast.Compare, depth: int) -> _Value:
        for op in node.ops:
            if type(op) in _REFUSED_CMP:
                self.fail(node, _REFUSED_CMP[type(op)])
        if len(node.ops) > 1:
            self.fail(node, "chained comparisons (a < b < c) are not allowed; & and | bind "
                      "tighter than comparisons in Python, so put parentheses around each "
                      "comparison: (a >= 1) & (b == 'x'), or join them with and/or")
        symbol, fn = _CMPOPS[type(node.ops[0])]
        left = self.value(node.left, depth)
        right = self.value(node.comparators[0], depth)
        self.operand(node.left, left, symbol)
        self.operand(node.comparators[0], right, symbol)
        if not isinstance(left, Expr) and not isinstance(right, Expr):
            self.fail(node, f"{symbol} compares a signal with a value; got two values "
                      f"{_describe(left)} and {_describe(right)}")
        return self.apply(node, fn, left, right)

    def operand(self, node: ast.AST, value: Any, symbol: str) -> None:
        if _is_decay(value):
            self.fail(node, f"{_describe(value)} is a decay; use it as decay=... of count(), "
                      f"total(), a rule or the model, not as an operand of {symbol}")

    def visit_Call(self, node: ast.Call, depth: int) -> _Value:
        # Python's order: what is called first, then its arguments.
        func = node.func
        if isinstance(func, ast.Attribute):
            target = self.method(func, depth)
        elif isinstance(func, ast.Name):
            target = self.builder(func)
        else:
            self.fail(func, "only signals, decays and methods can be called", allowed=True)
        given: set[str] = set()
        for kw in node.keywords:
            if kw.arg is None:
                self.fail(kw.value, "unpacking (**) is not allowed", allowed=True)
            if kw.arg in given:  # (Python refuses it too; a dict would keep the last)
                self.fail(kw.value, f"keyword argument repeated: {kw.arg}")
            given.add(kw.arg)
        args = [self.value(a, depth) for a in node.args]
        kwargs = {kw.arg: self.value(kw.value, depth) for kw in node.keywords
                  if kw.arg is not None}
        fn, label, kind = target
        result = self.apply(node, fn, *args, _label=label, **kwargs)
        if kind == "signal" and not isinstance(result, Expr):
            self.fail(node, f"signal {label} returned {_describe(result)} "
                      f"({type(result).__name__}), not an expression")
        if kind == "decay" and not _is_decay(result):
            self.fail(node, f"decay {label} returned {_describe(result)}, which has no "
                      "apply(value, age) method")
        return result

    def builder(self, func: ast.Name) -> tuple[Callable[..., Any], str, str]:
        name = func.id
        if name == "at":  # a moment, as repr prints one beside a trait or property
            from pqlkit.expr import at

            return at, "at(...)", "value"
        kind: Kind | None = None
        candidate: Kind
        for candidate in ("signal", "decay"):
            if self.reg.has(candidate, name):
                kind = candidate
                break
        if kind is None:
            self.fail(func, self.reg.unknown_message("signal", name, also=("decay",)))
        try:
            return self.reg.get(kind, name), f"{name}(...)", kind
        except PluginError as exc:
            self.fail(func, str(exc))

    def method(self, func: ast.Attribute, depth: int) -> tuple[Callable[..., Any], str, str]:
        name = func.attr
        if name.startswith("_"):
            self.fail(func, f"access to {name!r} is never allowed (private and dunder "
                      "attributes are off limits)", allowed=True)
        receiver = self.value(func.value, depth)
        if name not in METHODS:
            close = difflib.get_close_matches(name, METHODS, n=1, cutoff=0.6)
            hint = f"did you mean .{close[0]}()? " if close else ""
            self.fail(func, f"unknown method .{name}(); {hint}the methods are "
                      + ", ".join(f".{m}()" for m in METHODS))
        if not isinstance(receiver, Expr):
            self.fail(func, f".{name}() can only be called on a signal, trait or property, "
                      f"not on {_describe(receiver)}")
        method = getattr(receiver, name, None)
        if method is None:
            self.fail(func, f"{_describe(receiver)} has no method .{name}()")
        return method, f".{name}(...)", "method"

    def visit_Attribute(self, node: ast.Attribute, depth: int) -> _Value:
        if node.attr.startswith("_"):
            self.fail(node, f"access to {node.attr!r} is never allowed (private and dunder "
                      "attributes are off limits)", allowed=True)
        self.fail(node, f"attribute access (.{node.attr}) is not allowed; only method calls "
                  "such as .isin([...]) are", allowed=True)

    def visit_List(self, node: ast.List, depth: int) -> _Value:
        return [self.value(e, depth) for e in node.elts]

    def visit_Tuple(self, node: ast.Tuple, depth: int) -> _Value:
        return tuple(self.value(e, depth) for e in node.elts)

    def visit_Dict(self, node: ast.Dict, depth: int) -> _Value:
        out: dict[Any, Any] = {}
        for key, val in zip(node.keys, node.values, strict=True):
            if key is None:
                self.fail(val, "unpacking (**) is not allowed", allowed=True)
            k = self.value(key, depth)
            if not isinstance(k, (str, int, float, bool)) or k is None:
                self.fail(key, f"a dict key must be a string or number, got {_describe(k)}")
            out[k] = self.value(val, depth)
        return out

    def apply(self, node: ast.AST, fn: Callable[..., Any], *args: Any,
              _label: str | None = None, **kwargs: Any) -> Any:
        """Build a node with pqlkit's own operators and builders; any refusal gets a position."""
        try:
            return fn(*args, **kwargs)
        except ExpressionError as exc:
            self.fail(node, exc.reason)
        except RecursionError:
            self.fail(node, f"the expression is nested deeper than {MAX_DEPTH} levels")
        except Exception as exc:  # builders and plugins refuse bad arguments in many ways
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, TypeError) and _label and not isinstance(exc, ExpressionError):
                reason = f"{_label}: {reason}"
            self.fail(node, reason)


def parse_expr(text: str, *, path: str = "", plugins: Registry | None = None) -> Expr:
    """Read a signal or condition written in the Python API's syntax, without running code.

    Args:
        text: the expression, e.g. ``"count('invite', within='14d') >= 2"``.
        path: where it came from (``rules[2].when``), for messages.
        plugins: the registry to resolve names in (default: the installed plugins).

    Returns:
        The expression; ``parse_expr(repr(e)).equals(e)`` holds for every expression ``e``.

    Raises:
        ExpressionError: the text is not an expression of the language; the message gives
            the position and what is allowed.

    >>> parse_expr("trait('email').endswith('.edu', ignore_case=True)")
    trait('email').endswith('.edu', ignore_case=True)
    >>> parse_expr("cuont('invite') >= 1")
    Traceback (most recent call last):
    ...
    pqlkit.errors.ExpressionError: "cuont('invite') >= 1", column 1: unknown signal 'cuont'; did you mean 'count'? ...
    >>> parse_expr("count('x').__class__")
    Traceback (most recent call last):
    ...
    pqlkit.errors.ExpressionError: "count('x').__class__", column 1: access to '__class__' is never allowed ...
    """
    parser = _Parser(text, path, plugins if plugins is not None else registry())
    result = parser.parse()
    if not isinstance(result, Expr):
        parser.raise_at(f"expected a signal or condition, got {_describe(result)} "
                        f"({type(result).__name__})", None, None)
    return result


def parse_decay(text: str, *, path: str = "", plugins: Registry | None = None) -> Any:
    """Read a decay written as a call, e.g. ``"InactivityDecay(points=5, every='7d')"``.

    >>> parse_decay("HalfLife('14d')")
    HalfLife('14d')
    """
    parser = _Parser(text, path, plugins if plugins is not None else registry())
    result = parser.parse()
    if not _is_decay(result):
        parser.raise_at(f"expected a decay such as HalfLife('14d'), got {_describe(result)}",
                        None, None)
    return result
