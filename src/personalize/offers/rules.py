"""A small, safe expression language for offer rules.

Source text is tokenized, parsed by recursive descent into an AST, and the AST is
compiled into nested Python closures. Nothing is ever passed to ``eval``, ``exec``
or ``compile``; the only callables reachable from a rule are ``len``, ``min``,
``max`` and ``abs``.

Grammar (lowest precedence first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") sum]
    sum        := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | "null" | NAME | FUNC "(" args ")"
                | "(" expr ")" | "[" [expr ("," expr)*] "]"

``NAME`` is a dotted path (``profile.consent.marketing``) resolved in a nested facts
mapping; its first part must be one of ``ROOTS``.

Semantics of missing data (documented contract):

* A name that is absent (or whose parent is not a mapping) evaluates to ``null``.
* Ordering comparisons, ``==``/``!=``, ``in`` and ``not in`` with a ``null`` operand are
  **false** - so a rule over a missing fact fails. The one exception is a comparison
  with the literal ``null``: ``x == null`` is true when ``x`` is missing, ``x != null``
  when it is present.
* Arithmetic with ``null``, on non-numbers or dividing by zero gives ``null``.
* Comparing values of incompatible types (a string with a number) is false; booleans are
  not numbers.
* Facts are plain nested ``dict`` objects (other mapping types read as missing).
* ``not`` of ``null`` is true (``null`` is falsy). Prefer ``profile.returns <= 2`` over
  ``not profile.returns > 2`` when a missing value must fail the rule.
* A rule passes when its value is truthy: ``true``, a non-zero number, a non-empty
  string or list; ``null`` never passes.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

Facts = Mapping[str, Any]
Evaluator = Callable[[Facts], Any]

# Fact groups a rule may read. Personal groups depend on stored data about the person:
# without personalization consent, rules reading them fail (see ``Rule.personal``).
ROOTS: Final = frozenset({"profile", "session", "cart", "context", "scores", "item"})
PERSONAL_ROOTS: Final = frozenset({"profile", "scores"})

# Well-known leaves, only used to suggest a fix for a misspelled or unqualified name.
KNOWN_NAMES: Final = (
    "profile.orders",
    "profile.revenue",
    "profile.aov",
    "profile.returns",
    "profile.return_rate",
    "profile.shipping_paid_ratio",
    "profile.days_since_last_purchase",
    "profile.stage",
    "profile.segments",
    "profile.rfm",
    "profile.traits",
    "profile.consent.personalization",
    "profile.consent.marketing",
    "profile.consent.analytics",
    "session.views",
    "session.product_views",
    "session.dwell_ms",
    "session.image_zooms",
    "session.cart_adds",
    "session.searches",
    "session.checkout_started",
    "session.page_views",
    "cart.value",
    "cart.items",
    "cart.item_ids",
    "context.page_type",
    "context.channel",
    "context.item_id",
    "context.category",
    "context.device",
    "context.country",
    "scores.p_purchase",
    "scores.p_buy_again",
    "scores.churn_risk",
    "scores.shipping_sensitivity",
    "item.in_stock",
    "item.price",
    "item.category",
)

MAX_RULE_LENGTH: Final = 2000
MAX_DEPTH: Final = 50


class RuleError(ValueError):
    """A rule that does not parse; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, source: str, position: int) -> None:
        self.reason = message
        self.source = source
        self.position = position
        pointer = f"{source}\n{' ' * position}^" if len(source) <= 200 else source[:200]
        super().__init__(f"{message} at position {position}\n{pointer}")


# --- tokenizer ------------------------------------------------------------------------

KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false", "null"})
FUNCTIONS: Final = frozenset({"len", "min", "max", "abs"})
_TWO_CHAR_OPS: Final = frozenset({"==", "!=", "<=", ">="})
_ONE_CHAR_OPS: Final = frozenset("<>+-*/()[],")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num" | "str" | "name" | "kw" | "op" | "end"
    text: str
    value: Any
    pos: int


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and source[i + 1].isdigit()):
            start = i
            while i < n and (source[i].isdigit() or source[i] == "."):
                i += 1
            if i < n and source[i] in "eE":
                j = i + 1
                if j < n and source[j] in "+-":
                    j += 1
                if j < n and source[j].isdigit():
                    i = j
                    while i < n and source[i].isdigit():
                        i += 1
            text = source[start:i]
            try:
                number = float(text)
            except ValueError:
                raise RuleError(f"malformed number {text!r}", source, start) from None
            if i < n and (source[i].isalpha() or source[i] == "_"):
                raise RuleError("a name cannot start with a digit", source, start)
            tokens.append(
                Token(
                    "num",
                    text,
                    int(number)
                    if number.is_integer() and "." not in text and "e" not in text.lower()
                    else number,
                    start,
                )
            )
            continue
        if ch in "\"'":
            start, quote = i, ch
            i += 1
            chars: list[str] = []
            while i < n and source[i] != quote:
                if source[i] == "\\" and i + 1 < n:
                    chars.append(source[i + 1])
                    i += 2
                else:
                    chars.append(source[i])
                    i += 1
            if i >= n:
                raise RuleError("unterminated string", source, start)
            i += 1
            tokens.append(Token("str", source[start:i], "".join(chars), start))
            continue
        if ch.isalpha() or ch == "_":
            start = i
            while i < n and (source[i].isalnum() or source[i] in "_."):
                i += 1
            text = source[start:i]
            if text.endswith(".") or ".." in text:
                raise RuleError(f"malformed name {text!r}", source, start)
            kind = "kw" if text in KEYWORDS else "name"
            tokens.append(Token(kind, text, text, start))
            continue
        two = source[i : i + 2]
        if two in _TWO_CHAR_OPS:
            tokens.append(Token("op", two, two, i))
            i += 2
            continue
        if ch in _ONE_CHAR_OPS:
            tokens.append(Token("op", ch, ch, i))
            i += 1
            continue
        if ch == "=":
            raise RuleError("'=' is not an operator; use '==' to compare", source, i)
        if two in ("&&", "||"):
            raise RuleError(f"{two!r} is not an operator; use 'and' / 'or'", source, i)
        if ch == "!":
            raise RuleError("'!' is not an operator; use 'not' or '!='", source, i)
        raise RuleError(f"unexpected character {ch!r}", source, i)
    tokens.append(Token("end", "", None, n))
    return tokens


# --- AST ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Name:
    path: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" | "not"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / == != < <= > >= in "not in" and or
    left: Node
    right: Node


Node = Literal | Name | ListExpr | Call | Unary | Binary

_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (text is None or tok.text == text)

    def expect(self, kind: str, text: str, what: str) -> Token:
        if not self.at(kind, text):
            tok = self.peek()
            found = "end of rule" if tok.kind == "end" else repr(tok.text)
            raise RuleError(f"expected {what}, found {found}", self.source, tok.pos)
        return self.advance()

    def parse(self) -> Node:
        if not self.source.strip():
            raise RuleError("empty rule", self.source, 0)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise RuleError(
                f"unexpected {tok.text!r} after a complete expression", self.source, tok.pos
            )
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError("rule is nested too deeply", self.source, self.peek().pos)

    def parse_or(self) -> Node:
        self._enter()
        node = self.parse_and()
        while self.at("kw", "or"):
            self.advance()
            node = Binary("or", node, self.parse_and())
        self.depth -= 1
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.at("kw", "and"):
            self.advance()
            node = Binary("and", node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        if self.at("kw", "not"):
            self.advance()
            self._enter()
            node = Unary("not", self.parse_not())
            self.depth -= 1
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_sum()
        tok = self.peek()
        op: str | None = None
        if tok.kind == "op" and tok.text in _COMPARISONS:
            op = tok.text
            self.advance()
        elif self.at("kw", "in"):
            op = "in"
            self.advance()
        elif self.at("kw", "not") and self.tokens[self.i + 1].text == "in":
            op = "not in"
            self.i += 2
        if op is None:
            return left
        right = self.parse_sum()
        nxt = self.peek()
        if (nxt.kind == "op" and nxt.text in _COMPARISONS) or (
            nxt.kind == "kw" and nxt.text == "in"
        ):
            raise RuleError(
                "comparisons cannot be chained; join them with 'and'", self.source, nxt.pos
            )
        return Binary(op, left, right)

    def parse_sum(self) -> Node:
        node = self.parse_term()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            op = self.advance().text
            node = Binary(op, node, self.parse_term())
        return node

    def parse_term(self) -> Node:
        node = self.parse_unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            op = self.advance().text
            node = Binary(op, node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.at("op", "-"):
            self.advance()
            self._enter()
            operand = self.parse_unary()
            self.depth -= 1
            if (
                isinstance(operand, Literal)
                and isinstance(operand.value, (int, float))
                and not isinstance(operand.value, bool)
            ):
                return Literal(-operand.value)
            return Unary("-", operand)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "num" or tok.kind == "str":
            self.advance()
            return Literal(tok.value)
        if tok.kind == "kw":
            if tok.text in ("true", "false", "null"):
                self.advance()
                return Literal({"true": True, "false": False, "null": None}[tok.text])
            raise RuleError(f"expected a value, found keyword {tok.text!r}", self.source, tok.pos)
        if tok.kind == "name":
            self.advance()
            if self.at("op", "("):
                return self.parse_call(tok)
            return self.make_name(tok)
        if self.at("op", "("):
            self.advance()
            self._enter()
            node = self.parse_or()
            self.depth -= 1
            self.expect("op", ")", "')'")
            return node
        if self.at("op", "["):
            self.advance()
            items: list[Node] = []
            if not self.at("op", "]"):
                items.append(self.parse_or())
                while self.at("op", ","):
                    self.advance()
                    items.append(self.parse_or())
            self.expect("op", "]", "',' or ']'")
            return ListExpr(tuple(items))
        found = "end of rule" if tok.kind == "end" else repr(tok.text)
        raise RuleError(f"expected a value, found {found}", self.source, tok.pos)

    def parse_call(self, name_tok: Token) -> Node:
        if name_tok.text not in FUNCTIONS:
            raise RuleError(
                f"unknown function {name_tok.text!r} (allowed: {', '.join(sorted(FUNCTIONS))})",
                self.source,
                name_tok.pos,
            )
        self.advance()  # "("
        args: list[Node] = []
        if not self.at("op", ")"):
            args.append(self.parse_or())
            while self.at("op", ","):
                self.advance()
                args.append(self.parse_or())
        self.expect("op", ")", "',' or ')'")
        if name_tok.text in ("len", "abs") and len(args) != 1:
            raise RuleError(
                f"{name_tok.text}() takes exactly one argument", self.source, name_tok.pos
            )
        if name_tok.text in ("min", "max") and not args:
            raise RuleError(
                f"{name_tok.text}() needs at least one argument", self.source, name_tok.pos
            )
        return Call(name_tok.text, tuple(args))

    def make_name(self, tok: Token) -> Name:
        path = tuple(tok.text.split("."))
        if path[0] not in ROOTS:
            hint = ""
            close = difflib.get_close_matches(tok.text, KNOWN_NAMES, n=1, cutoff=0.6)
            by_leaf = [k for k in KNOWN_NAMES if k.endswith("." + path[-1])]
            if by_leaf:
                hint = f"; did you mean {by_leaf[0]!r}?"
            elif close:
                hint = f"; did you mean {close[0]!r}?"
            raise RuleError(
                f"unknown name {tok.text!r}: names start with one of {', '.join(sorted(ROOTS))}{hint}",
                self.source,
                tok.pos,
            )
        if len(path) < 2:
            raise RuleError(
                f"{tok.text!r} is a group of facts; name a field, e.g. {tok.text}.<field>",
                self.source,
                tok.pos,
            )
        return Name(path)


def parse(source: str) -> Node:
    if len(source) > MAX_RULE_LENGTH:
        raise RuleError(f"rule longer than {MAX_RULE_LENGTH} characters", source[:200], 0)
    return _Parser(source).parse()


# --- evaluation: AST -> closures ------------------------------------------------------


_NUMBER_TYPES: Final = (int, float)


def _is_number(x: Any) -> bool:
    # type() rather than isinstance: bool is an int subclass and must not compare as a number.
    return type(x) in _NUMBER_TYPES


def truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    try:
        return bool(value)
    except Exception:  # noqa: BLE001 - a fact of an odd type must not crash a decision
        return False


def _compare(op: str) -> Callable[[Any, Any], bool]:
    def ordered(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
        def cmp(a: Any, b: Any) -> bool:
            if a is None or b is None:
                return False
            if _is_number(a) and _is_number(b) or isinstance(a, str) and isinstance(b, str):
                return fn(a, b)
            return False

        return cmp

    def eq(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        if _is_number(a) and _is_number(b):
            return bool(a == b)
        return type(a) is type(b) and bool(a == b)

    if op == "==":
        return eq
    if op == "!=":
        return lambda a, b: a is not None and b is not None and not eq(a, b)
    table: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: bool(a < b),
        "<=": lambda a, b: bool(a <= b),
        ">": lambda a, b: bool(a > b),
        ">=": lambda a, b: bool(a >= b),
    }
    return ordered(table[op])


def _contains(needle: Any, haystack: Any) -> bool | None:
    """Membership; None when undefined (missing operand or not a container)."""
    if needle is None or haystack is None:
        return None
    if isinstance(haystack, str):
        return needle in haystack if isinstance(needle, str) else None
    if isinstance(haystack, (list, tuple, set, frozenset)):
        return any(_EQ(needle, x) for x in haystack)
    if isinstance(haystack, Mapping):
        return needle in haystack if isinstance(needle, str) else None
    return None


_EQ: Final = _compare("==")


def _constant_membership(values: list[Any], negate: bool) -> Evaluator | None:
    """Fast path for ``x in ["a", "b"]``: a set lookup when every item has one type."""
    if values and all(isinstance(v, str) for v in values):
        strings = frozenset(values)
        kind: Callable[[Any], bool] = lambda v: isinstance(v, str)
        members: frozenset[Any] = strings
    elif values and all(_is_number(v) for v in values):
        members = frozenset(values)
        kind = _is_number
    else:
        return None
    if negate:
        return lambda v: (v not in members) if kind(v) else (v is not None)
    return lambda v: kind(v) and v in members


def _arith(op: str) -> Callable[[Any, Any], Any]:
    def fn(a: Any, b: Any) -> Any:
        if not (_is_number(a) and _is_number(b)):
            return None
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            return None
        return a / b

    return fn


def _call(func: str, args: list[Any]) -> Any:
    if func == "len":
        x = args[0]
        return len(x) if isinstance(x, (str, list, tuple, Mapping)) else None
    if func == "abs":
        return abs(args[0]) if _is_number(args[0]) else None
    if func in ("min", "max"):
        values = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        if not values or not all(_is_number(v) for v in values):
            return None
        return min(values) if func == "min" else max(values)
    raise AssertionError(func)  # unreachable: the parser only accepts FUNCTIONS


def _lookup(path: tuple[str, ...]) -> Evaluator:
    # Specialised for the common depths: a generic loop costs ~2x more per rule.
    if len(path) == 2:
        a, b = path

        def get2(facts: Facts) -> Any:
            group = facts.get(a)
            return group.get(b) if isinstance(group, dict) else None

        return get2
    if len(path) == 3:
        a, b, c = path

        def get3(facts: Facts) -> Any:
            group = facts.get(a)
            if not isinstance(group, dict):
                return None
            sub = group.get(b)
            return sub.get(c) if isinstance(sub, dict) else None

        return get3

    def get_n(facts: Facts) -> Any:
        cur: Any = facts
        for part in path:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(part)
        return cur

    return get_n


def compile_node(node: Node) -> Evaluator:
    if isinstance(node, Literal):
        value = node.value
        return lambda facts: value
    if isinstance(node, Name):
        return _lookup(node.path)
    if isinstance(node, ListExpr):
        if all(isinstance(x, Literal) for x in node.items):
            const = [x.value for x in node.items if isinstance(x, Literal)]
            return lambda facts: const
        parts = [compile_node(x) for x in node.items]
        return lambda facts: [p(facts) for p in parts]
    if isinstance(node, Call):
        func = node.func
        arg_fns = [compile_node(x) for x in node.args]
        return lambda facts: _call(func, [f(facts) for f in arg_fns])
    if isinstance(node, Unary):
        operand = compile_node(node.operand)
        if node.op == "not":
            return lambda facts: not truthy(operand(facts))
        return lambda facts: -v if _is_number(v := operand(facts)) else None
    left, right = compile_node(node.left), compile_node(node.right)
    op = node.op
    if op == "and":

        def and_(facts: Facts) -> bool:
            # Comparisons yield bools: test identity first, truthy() only for other values.
            a = left(facts)
            if a is not True and (a is False or not truthy(a)):
                return False
            b = right(facts)
            return b is True or (b is not False and truthy(b))

        return and_
    if op == "or":

        def or_(facts: Facts) -> bool:
            a = left(facts)
            if a is True or (a is not False and truthy(a)):
                return True
            b = right(facts)
            return b is True or (b is not False and truthy(b))

        return or_
    if op in ("==", "!=") and (_is_null(node.left) or _is_null(node.right)):
        # The documented exception: comparing with the literal null tests presence.
        other = right if _is_null(node.left) else left
        if op == "==":
            return lambda facts: other(facts) is None
        return lambda facts: other(facts) is not None
    if op in _COMPARISONS:
        cmp = _compare(op)
        if op in _ORDERED and isinstance(node.right, Literal) and _is_number(node.right.value):
            return _numeric_constant_comparison(op, left, node.right.value)
        if isinstance(node.right, Literal):
            const = node.right.value
            return lambda facts: cmp(left(facts), const)
        return lambda facts: cmp(left(facts), right(facts))
    if (
        op in ("in", "not in")
        and isinstance(node.right, ListExpr)
        and all(isinstance(x, Literal) for x in node.right.items)
    ):
        test = _constant_membership(
            [x.value for x in node.right.items if isinstance(x, Literal)], negate=op == "not in"
        )
        if test is not None:
            return lambda facts: test(left(facts))
    if op in ("in", "not in") and isinstance(node.left, Literal) and type(node.left.value) is str:
        return _string_membership(node.left.value, right, negate=op == "not in")
    if op == "in":
        return lambda facts: _contains(left(facts), right(facts)) is True
    if op == "not in":
        return lambda facts: _contains(left(facts), right(facts)) is False
    arith = _arith(op)
    return lambda facts: arith(left(facts), right(facts))


_ORDERED: Final = frozenset({"<", "<=", ">", ">="})


def _numeric_constant_comparison(op: str, left: Evaluator, const: float) -> Evaluator:
    """The hot case ``name >= 30``: one lookup, one type test, one comparison."""
    num = _NUMBER_TYPES
    if op == ">=":
        return lambda facts: type(v := left(facts)) in num and v >= const
    if op == ">":
        return lambda facts: type(v := left(facts)) in num and v > const
    if op == "<=":
        return lambda facts: type(v := left(facts)) in num and v <= const
    return lambda facts: type(v := left(facts)) in num and v < const


def _string_membership(needle: str, haystack: Evaluator, negate: bool) -> Evaluator:
    """The hot case ``"loyal" in profile.segments``: ``_contains`` inlined for a list (an
    element counts when it is a ``str`` equal to the needle), other containers as before."""

    def contains(facts: Facts) -> bool:
        h = haystack(facts)
        if type(h) is list:
            for x in h:
                if type(x) is str and x == needle:
                    return not negate
            return negate
        return _contains(needle, h) is (not negate)

    return contains


def _is_null(node: Node) -> bool:
    return isinstance(node, Literal) and node.value is None


def names_in(node: Node) -> list[Name]:
    """Every name a rule reads, in source order (for explanations and consent checks)."""
    if isinstance(node, Name):
        return [node]
    if isinstance(node, (Literal,)):
        return []
    if isinstance(node, ListExpr):
        return [n for x in node.items for n in names_in(x)]
    if isinstance(node, Call):
        return [n for x in node.args for n in names_in(x)]
    if isinstance(node, Unary):
        return names_in(node.operand)
    return names_in(node.left) + names_in(node.right)


@dataclass(frozen=True, slots=True, eq=False)  # identity: hashing an AST per lookup is slow
class Rule:
    """A parsed and compiled rule. ``personal`` rules read profile or scores."""

    source: str
    ast: Node
    evaluate: Evaluator
    names: tuple[str, ...]
    personal: bool

    def passes(self, facts: Facts) -> bool:
        try:
            result = self.evaluate(facts)
            return result is True or (result is not False and truthy(result))
        except (TypeError, ValueError, ArithmeticError, RecursionError):
            # Facts come from storage and clients; an odd value fails the rule, never the decision.
            return False

    def value(self, facts: Facts) -> Any:
        try:
            return self.evaluate(facts)
        except (TypeError, ValueError, ArithmeticError, RecursionError):
            return None

    def explain(self, facts: Facts) -> str:
        """The rule with the values it read, e.g. ``cart.value >= 30 (cart.value=42.00)``."""
        shown = [f"{name}={_format_value(_name_lookup(name)(facts))}" for name in self.names]
        return f"{self.source} ({', '.join(shown)})" if shown else self.source


@functools.lru_cache(maxsize=8192)
def _name_lookup(name: str) -> Evaluator:
    return _lookup(tuple(name.split(".")))


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def compile_rule(source: str) -> Rule:
    """Parse and compile one rule; raises ``RuleError`` with a position on bad input.

    Cached: identical rule texts give the same (immutable) ``Rule`` object, which lets
    arbitration evaluate a rule shared by many offers once per decision.
    """
    if not isinstance(source, str):
        raise RuleError(f"a rule must be a string, got {type(source).__name__}", repr(source), 0)
    return _compile_rule_cached(source)


@functools.lru_cache(maxsize=8192)
def _compile_rule_cached(source: str) -> Rule:
    ast = parse(source)
    names = tuple(dict.fromkeys(n.dotted for n in names_in(ast)))
    personal = any(n.split(".", 1)[0] in PERSONAL_ROOTS for n in names)
    return Rule(source=source, ast=ast, evaluate=compile_node(ast), names=names, personal=personal)


# --- rule sets: many rules evaluated together ------------------------------------------

_THRESHOLD_OPS: Final = frozenset({"<", "<=", ">", ">=", "=="})
_SCALAR_TYPES: Final = frozenset({str, int, float, bool, type(None)})
_MEMO_CAP: Final = 256  # value combinations remembered per group of rules


def _threshold(rule: Rule) -> tuple[str, float] | None:
    """``(op, constant)`` when the rule is ``<name> <op> <number>``, which is true only for an
    int/float (not bool, not NaN) value that compares so with the constant."""
    node = rule.ast
    if (
        isinstance(node, Binary)
        and node.op in _THRESHOLD_OPS
        and isinstance(node.left, Name)
        and isinstance(node.right, Literal)
        and _is_number(node.right.value)
    ):
        return node.op, node.right.value
    return None


def _outcome_at(op: str, const: float, consts: list[float], cls: int) -> bool:
    """``v <op> const`` for any v of class ``cls``: odd ``2i+1`` means v == consts[i]; even
    ``2i`` means consts[i-1] < v < consts[i] (the ends open to infinity)."""
    i, equal = divmod(cls, 2)
    if equal:
        v = consts[i]
        return {"<": v < const, "<=": v <= const, ">": v > const, ">=": v >= const, "==": v == const}[op]
    below = const >= consts[i] if i < len(consts) else False  # v < const (and v != const)
    return below if op in ("<", "<=") else (not below if op in (">", ">=") else False)


def value_key(value: Any) -> Any:
    """A hashable stand-in for a fact such that equal keys give every rule the same outcome, or
    None. Types are part of the key (1, 1.0 and true differ in rules); NaN has none (it is not
    equal to itself); a list counts when it only holds strings (``profile.segments``)."""
    t = type(value)
    if t in _SCALAR_TYPES:
        return (t, value) if value == value else None  # noqa: PLR0124 - NaN != NaN
    if t is list:
        for x in value:
            if type(x) is not str:
                return None
        return (t, tuple(value))
    return None


def _path(name: str) -> tuple[str, str, Evaluator | None]:
    """``(group, field, None)`` for a ``group.field`` name, read inline by a rule set (one call
    less per fact, which shows once caches are cold); deeper names keep their lookup closure."""
    path = tuple(name.split("."))
    if len(path) == 2:
        return path[0], path[1], None
    return "", "", _lookup(path)


class _Memo:
    """Rules reading the same facts, their failures remembered per combination of values."""

    __slots__ = ("field", "getters", "group", "members", "memo", "on")

    def __init__(self, names: tuple[str, ...], members: list[tuple[int, Rule]]) -> None:
        self.group, self.field, _ = _path(names[0]) if len(names) == 1 else ("", "", None)
        self.getters = tuple(_lookup(tuple(name.split("."))) for name in names) if not self.field else ()
        self.members = [(bit, rule.passes) for bit, rule in members]
        self.memo: dict[Any, int] = {}
        self.on = True  # off once the memo filled up: the values hardly repeat (a price...)

    def failures(self, facts: Facts) -> int:
        key: Any = None
        if self.on:
            if self.field:  # one group.field name: the common case, read inline
                group = facts.get(self.group)
                key = value_key(group.get(self.field) if isinstance(group, dict) else None)
            elif len(self.getters) == 1:
                key = value_key(self.getters[0](facts))
            else:
                key = tuple(value_key(get(facts)) for get in self.getters)
                if None in key:
                    key = None
            if key is not None:
                mask = self.memo.get(key)
                if mask is not None:
                    return mask
        mask = 0
        for bit, passes in self.members:
            if not passes(facts):
                mask |= bit
        if key is not None:
            if len(self.memo) >= _MEMO_CAP:
                self.on = False
                self.memo.clear()
            else:
                self.memo[key] = mask
        return mask


class RuleSet:
    """Distinct rules compiled into one evaluation: ``failures(facts)`` has bit ``i`` set when
    ``rules[i].passes(facts)`` is false, exactly as evaluating each rule would say.

    Rules that read the same facts are evaluated together:

    * ``<name> <op> <number>`` rules over one name (``cart.value >= 30``, ``cart.value >= 50``...)
      become one lookup, one bisection into their sorted constants and a table of outcomes;
    * other groups of rules over the same names (``profile.stage in [...]`` for many stage lists,
      ``"loyal" in profile.segments or profile.orders >= k`` for many k) remember their outcomes
      per combination of values (``value_key``): one lookup per name answers them all;
    * a rule alone with its names is evaluated as is; rules over no name are constants.
    """

    __slots__ = ("_constant", "_memos", "_single", "_thresholds", "rules")

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        groups: dict[tuple[str, ...], list[tuple[int, Rule]]] = {}
        self._constant = 0
        for i, rule in enumerate(rules):
            if not rule.names:
                self._constant |= 0 if rule.passes({}) else 1 << i
            else:
                groups.setdefault(rule.names, []).append((1 << i, rule))
        self._thresholds: list[tuple[str, str, Evaluator | None, list[float], list[int], int]] = []
        self._memos: list[_Memo] = []
        self._single: list[tuple[int, Callable[[Facts], bool]]] = []
        for names, members in groups.items():
            tests = [(bit, _threshold(rule)) for bit, rule in members]
            if len(names) == 1 and all(t is not None for _, t in tests):
                consts = sorted({t[1] for _, t in tests if t is not None})
                table = [
                    sum(bit for bit, t in tests if t is not None and not _outcome_at(*t, consts, cls))
                    for cls in range(2 * len(consts) + 1)
                ]
                everything = sum(bit for bit, _ in members)
                self._thresholds.append((*_path(names[0]), consts, table, everything))
            elif len(members) > 1:
                self._memos.append(_Memo(names, members))
            else:
                self._single.extend((bit, rule.passes) for bit, rule in members)

    def failures(self, facts: Facts) -> int:
        failed = self._constant
        num = _NUMBER_TYPES
        v: Any
        for group_name, field, get, consts, table, everything in self._thresholds:
            if get is None:
                group = facts.get(group_name)
                v = group.get(field) if isinstance(group, dict) else None
            else:
                v = get(facts)
            if type(v) in num and v == v:  # noqa: PLR0124 - NaN compares false with everything
                i = bisect.bisect_left(consts, v)
                failed |= table[2 * i + 1] if i < len(consts) and consts[i] == v else table[2 * i]
            else:
                failed |= everything
        for memo in self._memos:
            failed |= memo.failures(facts)
        for bit, passes in self._single:
            if not passes(facts):
                failed |= bit
        return failed
