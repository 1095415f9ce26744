"""One safe expression language for filter predicates and column transforms.

CLAIMED ran the user's filter predicate (``~metadata.filename.str.contains('.gz')``) and
transform function (``x.replace('/', '_')``) through ``exec``. We accept the same language and
never execute it: the text is parsed with `ast` (``mode="eval"``), every node is checked against
an allow-list, and the tree is compiled ONCE into a small typed plan (the dataclasses below).
Two backends interpret the plan — never the text:

- `evaluate` (here): vectorised pandas operations on whole columns (no ``eval``, no
  ``DataFrame.eval/query``, no ``getattr`` with a user's name: every method is looked up in a
  table of our own functions);
- `airgenome.components.data.spark.to_column`: native ``pyspark.sql`` Column expressions.

The language (see docs/components-data-tables.md for the grammar):

- names: the table (parameter, default ``metadata``) and, in transforms, ``x`` (the column
  being transformed, as a whole column); ``True``/``False``/``None``;
- columns: ``metadata.filename`` or ``metadata['finding']``;
- literals: str, int, float, bool, None; lists/tuples of them as arguments (``isin``);
- arithmetic ``+ - * / // % **``, unary ``- + ~ not``, comparisons (chained too),
  ``& | and or``;
- methods on a column: ``isin between isna notna isnull notnull fillna abs round clip astype
  replace``; ``.str.<method>`` and ``.dt.<property>`` from allow-lists; on ``x`` the Python
  string methods of CLAIMED's transforms (``x.replace(a, b)`` is ``Series.str.replace(a, b,
  regex=False)``); ``x[1:3]`` slices text;
- functions: ``abs round len where coalesce``.

Anything else is refused with a message that names the offending text and its position
(`ExpressionError`, a ``ValueError``, so pydantic field validators report it with the field
path): dunder or private attributes, imports, other names, calls outside the allow-lists,
lambdas, comprehensions, attribute chains, f-strings, starred arguments, ``in`` (use
``isin``), comparisons with ``None`` (use ``isna``), oversized literals or text, deep nesting,
too many nodes, literal arithmetic that explodes (``2**10**10``, string repetition), and
regular expressions with nested quantifiers (catastrophic backtracking).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from typing import Literal as TypingLiteral

# ------------------------------------------------------------------ limits
MAX_TEXT = 20_000  # characters of expression text
MAX_STRING = 10_000  # characters of one string literal
MAX_LIST = 10_000  # items of one list literal
MAX_NODES = 500  # plan nodes (list items not counted)
MAX_DEPTH = 32  # nesting of plan nodes
MAX_REGEX = 1_000  # characters of one regular expression
MAX_EXPONENT = 64  # |exponent| of a literal power
MAX_WIDTH = 10_000  # zfill width
INT64 = 2**63 - 1

Scalar = str | int | float | bool | None
Kind = TypingLiteral["bool", "number", "string", "datetime", "any"]


class ExpressionError(ValueError):
    """A refused expression; ``position`` is (line, column), both 1-based, when known."""

    def __init__(self, message: str, node: ast.AST | None = None, *, position: tuple[int, int] | None = None) -> None:
        if position is None and node is not None and hasattr(node, "lineno"):
            position = (int(node.lineno), int(getattr(node, "col_offset", 0)) + 1)
            if isinstance(node, ast.Attribute) and node.end_lineno is not None and node.end_col_offset is not None:
                # point at the attribute's name, not at the start of what it hangs from
                position = (int(node.end_lineno), int(node.end_col_offset) - len(node.attr) + 1)
        self.reason = message
        self.position = position
        if position is not None:
            line, column = position
            where = f"column {column}" if line == 1 else f"line {line}, column {column}"
            message = f"{message} (at {where})"
        super().__init__(message)


class EvaluationError(ValueError):
    """The expression was valid but could not be evaluated on this table (types, columns)."""


# ------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Node:
    @property
    def kind(self) -> Kind:
        return "any"

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True)
class Column(Node):
    name: str


@dataclass(frozen=True)
class Value(Node):
    """``x`` in a transform: the column being transformed (bound when evaluated)."""


@dataclass(frozen=True)
class Literal(Node):
    value: Scalar

    @property
    def kind(self) -> Kind:
        return _scalar_kind(self.value)


@dataclass(frozen=True)
class ListLiteral(Node):
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str  # neg | pos | invert | not
    operand: Node

    @property
    def kind(self) -> Kind:
        if self.op == "not":
            return "bool"
        inner = self.operand.kind
        return inner if inner in ("bool", "number", "any") else "any"

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Node):
    op: str  # add | sub | mul | truediv | floordiv | mod | pow
    left: Node
    right: Node

    @property
    def kind(self) -> Kind:
        if self.op == "add" and "string" in (self.left.kind, self.right.kind):
            return "string"
        if self.left.kind == "number" and self.right.kind == "number":
            return "number"
        return "any"

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Compare(Node):
    op: str  # eq | ne | lt | le | gt | ge
    left: Node
    right: Node

    @property
    def kind(self) -> Kind:
        return "bool"

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Logical(Node):
    op: str  # and | or   (& and `and` are the same: element-wise)
    operands: tuple[Node, ...]

    @property
    def kind(self) -> Kind:
        kinds = {o.kind for o in self.operands}
        if kinds == {"number"}:
            return "number"
        return "bool" if "bool" in kinds else "any"

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(frozen=True)
class Method(Node):
    """A method from an allow-list: ``namespace`` is ``series``, ``str`` or ``dt``."""

    namespace: str
    name: str
    target: Node
    args: tuple[Node, ...] = ()
    kwargs: tuple[tuple[str, Node], ...] = ()

    @property
    def kind(self) -> Kind:
        return _SIGNATURES[(self.namespace, self.name)].result or self.target.kind

    def children(self) -> tuple[Node, ...]:
        return (self.target, *self.args, *(v for _, v in self.kwargs))

    def argument(self, name: str) -> Node | None:
        """An argument by its name (positional ones are named by the signature)."""
        signature = _SIGNATURES[(self.namespace, self.name)]
        for index, node in enumerate(self.args):
            if signature.params[index].name == name:
                return node
        return dict(self.kwargs).get(name)

    def literal(self, name: str) -> Any:
        """A literal argument's value, or the signature's default."""
        node = self.argument(name)
        if node is None:
            return _SIGNATURES[(self.namespace, self.name)].default(name)
        if isinstance(node, ListLiteral):
            return list(node.values)
        if isinstance(node, Literal):
            return node.value
        raise TypeError(f"{name} is not a literal")


@dataclass(frozen=True)
class Property(Node):
    """``.dt.<property>``."""

    name: str
    target: Node

    @property
    def kind(self) -> Kind:
        return "bool" if self.name.startswith("is_") else "number"

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


@dataclass(frozen=True)
class Slice(Node):
    """Text slicing, ``x[1:3]`` or ``metadata.name.str[:3]``."""

    target: Node
    start: int | None
    stop: int | None
    step: int | None

    @property
    def kind(self) -> Kind:
        return "string"

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


@dataclass(frozen=True)
class Function(Node):
    name: str  # abs | round | len | where | coalesce
    args: tuple[Node, ...]

    @property
    def kind(self) -> Kind:
        if self.name == "len":
            return "number"
        if self.name == "abs":
            return "number"
        if self.name == "round":
            return "number"
        if self.name == "where":
            return self.args[1].kind if self.args[1].kind == self.args[2].kind else "any"
        return self.args[0].kind

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True)
class Plan:
    """A compiled expression: what the backends interpret (never the text)."""

    text: str
    root: Node
    purpose: str  # predicate | expression
    table_name: str
    value_name: str | None = None
    columns: tuple[str, ...] = field(default=())

    @property
    def uses_value(self) -> bool:
        return any(isinstance(n, Value) for n in walk(self.root))

    def nodes(self) -> Iterator[Node]:
        return walk(self.root)


def walk(root: Node) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children()))


def _scalar_kind(value: Scalar) -> Kind:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "any"


# ------------------------------------------------------------------ allow-lists
@dataclass(frozen=True)
class Param:
    name: str
    types: tuple[type, ...]  # allowed literal types; () = any expression
    default: Any = None
    required: bool = False
    regex: bool = False  # a regular expression (checked for catastrophic backtracking)
    bounds: tuple[int, int] | None = None
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...] = ()
    result: Kind | None = None  # None: the target's kind

    def default(self, name: str) -> Any:
        for param in self.params:
            if param.name == name:
                return param.default
        raise KeyError(name)


_STR = (str,)
_INT = (int,)
_BOOL = (bool,)
_NUM = (int, float)
_SCALAR = (str, int, float, bool)
_LIST = (list,)
ASTYPE_TYPES = ("int64", "float64", "str", "string", "bool", "boolean", "datetime64[ns]")

_SIGNATURES: dict[tuple[str, str], Signature] = {
    # Series methods (on any column or expression)
    ("series", "isin"): Signature((Param("values", _LIST, required=True),), "bool"),
    ("series", "between"): Signature(
        (
            Param("left", _SCALAR, required=True),
            Param("right", _SCALAR, required=True),
            Param("inclusive", _STR, "both", choices=("both", "neither", "left", "right")),
        ),
        "bool",
    ),
    ("series", "isna"): Signature((), "bool"),
    ("series", "notna"): Signature((), "bool"),
    ("series", "isnull"): Signature((), "bool"),
    ("series", "notnull"): Signature((), "bool"),
    ("series", "fillna"): Signature((Param("value", (), required=True),)),
    ("series", "abs"): Signature((), "number"),
    ("series", "round"): Signature((Param("decimals", _INT, 0, bounds=(-15, 15)),), "number"),
    ("series", "clip"): Signature((Param("lower", _NUM), Param("upper", _NUM)), "number"),
    ("series", "astype"): Signature((Param("dtype", _STR, required=True, choices=ASTYPE_TYPES),), "any"),
    ("series", "replace"): Signature((Param("to_replace", _SCALAR, required=True), Param("value", _SCALAR, required=True))),
    # .str methods
    ("str", "contains"): Signature(
        (
            Param("pat", _STR, required=True, regex=True),
            Param("case", _BOOL, True),
            Param("flags", _INT, 0, choices=(0,)),
            Param("na", _BOOL),
            Param("regex", _BOOL, True),
        ),
        "bool",
    ),
    ("str", "startswith"): Signature((Param("pat", _STR, required=True), Param("na", _BOOL)), "bool"),
    ("str", "endswith"): Signature((Param("pat", _STR, required=True), Param("na", _BOOL)), "bool"),
    ("str", "match"): Signature(
        (Param("pat", _STR, required=True, regex=True), Param("case", _BOOL, True), Param("flags", _INT, 0, choices=(0,)), Param("na", _BOOL)),
        "bool",
    ),
    ("str", "fullmatch"): Signature(
        (Param("pat", _STR, required=True, regex=True), Param("case", _BOOL, True), Param("flags", _INT, 0, choices=(0,)), Param("na", _BOOL)),
        "bool",
    ),
    ("str", "replace"): Signature(
        (
            Param("pat", _STR, required=True, regex=True),
            Param("repl", _STR, required=True),
            Param("n", _INT, -1, bounds=(-1, 1_000_000)),
            Param("case", _BOOL),
            Param("flags", _INT, 0, choices=(0,)),
            Param("regex", _BOOL, False),
        ),
        "string",
    ),
    ("str", "count"): Signature((Param("pat", _STR, required=True, regex=True),), "number"),
    ("str", "find"): Signature((Param("sub", _STR, required=True),), "number"),
    ("str", "len"): Signature((), "number"),
    ("str", "lower"): Signature((), "string"),
    ("str", "upper"): Signature((), "string"),
    ("str", "title"): Signature((), "string"),
    ("str", "capitalize"): Signature((), "string"),
    ("str", "swapcase"): Signature((), "string"),
    ("str", "strip"): Signature((Param("to_strip", _STR),), "string"),
    ("str", "lstrip"): Signature((Param("to_strip", _STR),), "string"),
    ("str", "rstrip"): Signature((Param("to_strip", _STR),), "string"),
    ("str", "zfill"): Signature((Param("width", _INT, required=True, bounds=(0, MAX_WIDTH)),), "string"),
    ("str", "slice"): Signature(
        (Param("start", _INT), Param("stop", _INT), Param("step", _INT, bounds=(-1_000_000, 1_000_000))), "string"
    ),
    ("str", "isdigit"): Signature((), "bool"),
    ("str", "isalpha"): Signature((), "bool"),
    ("str", "isalnum"): Signature((), "bool"),
    ("str", "isnumeric"): Signature((), "bool"),
    ("str", "isspace"): Signature((), "bool"),
    ("str", "islower"): Signature((), "bool"),
    ("str", "isupper"): Signature((), "bool"),
    # .dt methods
    ("dt", "normalize"): Signature((), "datetime"),
}
DT_PROPERTIES = (
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "dayofweek",
    "weekday",
    "dayofyear",
    "quarter",
    "is_month_start",
    "is_month_end",
)
# x.<python str method>(...) in a transform: CLAIMED applied Python code to each value; here the
# same call runs on the whole column through the `.str` method of the same meaning.
VALUE_STRING_METHODS: dict[str, str] = {
    "replace": "replace",  # Python's str.replace is literal: regex=False (the default here)
    "lower": "lower",
    "upper": "upper",
    "title": "title",
    "capitalize": "capitalize",
    "swapcase": "swapcase",
    "strip": "strip",
    "lstrip": "lstrip",
    "rstrip": "rstrip",
    "startswith": "startswith",
    "endswith": "endswith",
    "find": "find",
    "zfill": "zfill",
    "isdigit": "isdigit",
    "isalpha": "isalpha",
    "isalnum": "isalnum",
    "isnumeric": "isnumeric",
    "isspace": "isspace",
    "islower": "islower",
    "isupper": "isupper",
}
FUNCTIONS: dict[str, tuple[int, int]] = {  # name -> (min, max) arguments
    "abs": (1, 1),
    "round": (1, 2),
    "len": (1, 1),
    "where": (3, 3),
    "coalesce": (2, 2),
}
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "pow"}
_COMPARE = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
_UNARY = {ast.USub: "neg", ast.UAdd: "pos", ast.Invert: "invert", ast.Not: "not"}
_REFUSED_NODE = {
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.NamedExpr: "assignments are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.IfExp: "conditional expressions are not allowed (use where(condition, a, b))",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed (use a list)",
}


# ------------------------------------------------------------------ compiler
class _Compiler:
    def __init__(self, text: str, purpose: str, table_name: str, value_name: str | None) -> None:
        self.text = text
        self.purpose = purpose
        self.table_name = table_name
        self.value_name = value_name
        self.nodes = 0
        self.columns: list[str] = []

    def names(self) -> str:
        allowed = [self.table_name] + ([self.value_name] if self.value_name else [])
        return " and ".join(repr(n) for n in allowed)

    def compile(self, node: ast.AST, depth: int = 0) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"the expression is too large (more than {MAX_NODES} parts)", node)
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)", node)
        refused = _REFUSED_NODE.get(type(node))
        if refused is not None:
            raise ExpressionError(refused, node)
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise ExpressionError(f"{_describe(node)} is not allowed", node)
        result: Node = method(node, depth + 1)
        return result

    # leaves
    def _Constant(self, node: ast.Constant, depth: int) -> Node:  # noqa: N802
        return Literal(_literal(node))

    def _Name(self, node: ast.Name, depth: int) -> Node:  # noqa: N802
        if node.id == self.value_name:
            return Value()
        if node.id == self.table_name:
            raise ExpressionError(
                f"{node.id!r} is the table; name one of its columns ({node.id}.<column> or {node.id}['<column>'])", node
            )
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{node.id!r} is a function: call it, e.g. {node.id}(...)", node)
        raise ExpressionError(f"unknown name {node.id!r} (allowed names: {self.names()})", node)

    def _List(self, node: ast.List | ast.Tuple, depth: int) -> Node:  # noqa: N802
        if len(node.elts) > MAX_LIST:
            raise ExpressionError(f"a list may hold at most {MAX_LIST} items", node)
        values: list[Scalar] = []
        for item in node.elts:
            if isinstance(item, ast.UnaryOp) and isinstance(item.op, ast.USub | ast.UAdd) and isinstance(item.operand, ast.Constant):
                folded = self.compile(item, depth)
                assert isinstance(folded, Literal)
                values.append(folded.value)
                continue
            if not isinstance(item, ast.Constant):
                raise ExpressionError("list items must be literals (text, numbers, True/False/None)", item)
            values.append(_literal(item))
        return ListLiteral(tuple(values))

    _Tuple = _List

    # columns and accessors
    def _Attribute(self, node: ast.Attribute, depth: int) -> Node:  # noqa: N802
        _check_attribute_name(node.attr, node)
        if isinstance(node.value, ast.Name) and node.value.id == self.table_name:
            return self._column(node.attr, node)
        if isinstance(node.value, ast.Attribute) and node.value.attr == "dt":
            if node.attr not in DT_PROPERTIES:
                raise ExpressionError(
                    f".dt.{node.attr} is not allowed (allowed: {', '.join(DT_PROPERTIES)})", node
                )
            return Property(node.attr, self.compile(node.value.value, depth))
        if isinstance(node.value, ast.Name):
            self.compile(node.value, depth)  # an unknown name is the clearer message
        if node.attr in ("str", "dt"):
            raise ExpressionError(f".{node.attr} must be followed by one of its methods", node)
        raise ExpressionError(
            f"attribute {node.attr!r} is not allowed here (columns are {self.table_name}.<column>; "
            "methods must be called)",
            node,
        )

    def _column(self, name: str, node: ast.AST) -> Column:
        if not name or len(name) > 1000:
            raise ExpressionError("a column name must have 1 to 1000 characters", node)
        if name not in self.columns:
            self.columns.append(name)
        return Column(name)

    def _Subscript(self, node: ast.Subscript, depth: int) -> Node:  # noqa: N802
        key = node.slice
        if isinstance(node.value, ast.Name) and node.value.id == self.table_name:
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                raise ExpressionError(f"{self.table_name}[...] takes a column name in quotes", node)
            _check_attribute_name(key.value, key, column=True)
            return self._column(key.value, node)
        if isinstance(key, ast.Slice):
            target_node = node.value
            if isinstance(target_node, ast.Attribute) and target_node.attr == "str":
                target = self.compile(target_node.value, depth)
            elif isinstance(target_node, ast.Name) and target_node.id == self.value_name:
                target = Value()
            else:
                raise ExpressionError("slicing is allowed on text only: x[a:b] or <column>.str[a:b]", node)
            bounds = [self._slice_bound(part, depth) for part in (key.lower, key.upper, key.step)]
            if bounds[2] == 0:
                raise ExpressionError("a slice step cannot be zero", node)
            return Slice(target, bounds[0], bounds[1], bounds[2])
        raise ExpressionError("subscripts are allowed only to name a column or slice text", node)

    def _slice_bound(self, part: ast.expr | None, depth: int) -> int | None:
        if part is None:
            return None
        value = self.compile(part, depth)
        if not isinstance(value, Literal) or isinstance(value.value, bool) or not isinstance(value.value, int):
            raise ExpressionError("slice bounds must be whole-number literals", part)
        return value.value

    # operators
    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> Node:  # noqa: N802
        op = _UNARY.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator {_describe(node.op)} is not allowed", node)
        operand = self.compile(node.operand, depth)
        if isinstance(operand, Literal) and op in ("neg", "pos"):
            if isinstance(operand.value, bool) or not isinstance(operand.value, int | float):
                raise ExpressionError("unary minus/plus needs a number", node)
            return Literal(-operand.value if op == "neg" else operand.value)
        return Unary(op, operand)

    def _BinOp(self, node: ast.BinOp, depth: int) -> Node:  # noqa: N802
        if isinstance(node.op, ast.BitAnd | ast.BitOr):
            return self._logical("and" if isinstance(node.op, ast.BitAnd) else "or", [node.left, node.right], depth, node)
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator {_describe(node.op)} is not allowed", node)
        left = self.compile(node.left, depth)
        right = self.compile(node.right, depth)
        for side in (left, right):
            if isinstance(side, ListLiteral):
                raise ExpressionError("lists may only be method arguments (e.g. isin([...]))", node)
            if isinstance(side, Literal) and side.value is None:
                raise ExpressionError("None cannot take part in arithmetic", node)
        if op == "mul" and "string" in (left.kind, right.kind):
            raise ExpressionError("string repetition is not allowed", node)
        if op == "mod" and isinstance(left, Literal) and isinstance(left.value, str):
            raise ExpressionError("%-formatting is not allowed", node)
        if isinstance(left, Literal) and isinstance(right, Literal):
            return Literal(_fold(op, left.value, right.value, node))
        return Binary(op, left, right)

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> Node:  # noqa: N802
        return self._logical("and" if isinstance(node.op, ast.And) else "or", list(node.values), depth, node)

    def _logical(self, op: str, values: list[ast.expr], depth: int, node: ast.AST) -> Node:
        operands: list[Node] = []
        for value in values:
            compiled = self.compile(value, depth)
            if isinstance(compiled, ListLiteral) or (isinstance(compiled, Literal) and compiled.kind != "bool"):
                raise ExpressionError(f"'{'&' if op == 'and' else '|'}' / '{op}' combine conditions, not literals", value)
            if isinstance(compiled, Logical) and compiled.op == op:
                operands.extend(compiled.operands)
            else:
                operands.append(compiled)
        return Logical(op, tuple(operands))

    def _Compare(self, node: ast.Compare, depth: int) -> Node:  # noqa: N802
        parts = [self.compile(node.left, depth)]
        for operator_node, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(operator_node, ast.In | ast.NotIn):
                raise ExpressionError("'in' is not allowed: use <column>.isin([...])", node)
            if isinstance(operator_node, ast.Is | ast.IsNot):
                raise ExpressionError("'is' is not allowed: use <column>.isna() / .notna()", node)
            parts.append(self.compile(comparator, depth))
        compares: list[Node] = []
        for index, operator_node in enumerate(node.ops):
            left, right = parts[index], parts[index + 1]
            for side in (left, right):
                if isinstance(side, Literal) and side.value is None:
                    raise ExpressionError("comparing with None is always False: use .isna() / .notna()", node)
                if isinstance(side, ListLiteral):
                    raise ExpressionError("cannot compare with a list: use <column>.isin([...])", node)
            if isinstance(left, Literal) and isinstance(right, Literal):
                raise ExpressionError("comparing two literals is not a condition on the table", node)
            compares.append(Compare(_COMPARE[type(operator_node)], left, right))
        return compares[0] if len(compares) == 1 else Logical("and", tuple(compares))

    # calls
    def _Call(self, node: ast.Call, depth: int) -> Node:  # noqa: N802
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ExpressionError("**keyword arguments are not allowed", keyword.value)
        func = node.func
        if isinstance(func, ast.Name):
            return self._function(func.id, node, depth)
        if not isinstance(func, ast.Attribute):
            raise ExpressionError("only named functions and allow-listed methods may be called", node)
        _check_attribute_name(func.attr, func)
        owner = func.value
        if isinstance(owner, ast.Attribute) and owner.attr in ("str", "dt"):
            namespace = owner.attr
            if (namespace, func.attr) not in _SIGNATURES:
                allowed = sorted(n for ns, n in _SIGNATURES if ns == namespace)
                raise ExpressionError(f".{namespace}.{func.attr}() is not allowed (allowed: {', '.join(allowed)})", func)
            return self._method(namespace, func.attr, self.compile(owner.value, depth), node, depth)
        if isinstance(owner, ast.Name) and owner.id == self.value_name and func.attr in VALUE_STRING_METHODS:
            return self._method("str", VALUE_STRING_METHODS[func.attr], Value(), node, depth, value_call=True)
        if isinstance(owner, ast.Name) and owner.id == self.table_name:
            raise ExpressionError(f"{self.table_name}.{func.attr}(...) is not allowed: methods apply to columns", func)
        if isinstance(owner, ast.Name) and owner.id != self.value_name:
            self.compile(owner, depth)  # an unknown name is the clearer message
        if ("series", func.attr) not in _SIGNATURES:
            allowed = sorted(n for ns, n in _SIGNATURES if ns == "series")
            hint = " (text methods go through .str, e.g. .str.contains(...))" if ("str", func.attr) in _SIGNATURES else ""
            raise ExpressionError(f"method {func.attr!r} is not allowed (allowed: {', '.join(allowed)}){hint}", func)
        return self._method("series", func.attr, self.compile(owner, depth), node, depth)

    def _method(self, namespace: str, name: str, target: Node, node: ast.Call, depth: int, value_call: bool = False) -> Node:
        if isinstance(target, Literal | ListLiteral):
            raise ExpressionError(f"{name}() must be called on a column or an expression, not a literal", node)
        signature = _SIGNATURES[(namespace, name)]
        label = f"x.{name}" if value_call else (f".{namespace}.{name}" if namespace != "series" else f".{name}")
        if len(node.args) > len(signature.params):
            raise ExpressionError(f"{label}() takes at most {len(signature.params)} argument(s)", node)
        args: list[Node] = []
        given: dict[str, Node] = {}
        for param, arg in zip(signature.params, node.args, strict=False):
            compiled = self._argument(label, param, arg, depth)
            args.append(compiled)
            given[param.name] = compiled
        kwargs: list[tuple[str, Node]] = []
        known = {p.name: p for p in signature.params}
        for keyword in node.keywords:
            assert keyword.arg is not None
            found = known.get(keyword.arg)
            if found is None:
                raise ExpressionError(f"{label}() has no argument {keyword.arg!r}", keyword.value)
            param = found
            if param.name in given:
                raise ExpressionError(f"{label}() got {keyword.arg!r} twice", keyword.value)
            compiled = self._argument(label, param, keyword.value, depth)
            kwargs.append((param.name, compiled))
            given[param.name] = compiled
        for param in signature.params:
            if param.required and param.name not in given:
                raise ExpressionError(f"{label}() needs argument {param.name!r}", node)
        if value_call and name == "replace" and "regex" in given:
            raise ExpressionError("x.replace() is Python's literal replace; use <column>.str.replace(..., regex=True)", node)
        if namespace == "str" and name == "slice" and isinstance(given.get("step"), Literal) and given["step"] == Literal(0):
            raise ExpressionError("a slice step cannot be zero", node)
        method = Method(namespace, name, target, tuple(args), tuple(kwargs))
        if namespace == "str" and name in ("contains", "replace") and method.literal("regex") is False:
            return method  # a literal pattern: no regular-expression checks
        for param in signature.params:
            value = given.get(param.name)
            if param.regex and isinstance(value, Literal) and isinstance(value.value, str):
                regex_used = not (namespace == "str" and name == "replace" and method.literal("regex") is not True)
                if regex_used:
                    check_regex(value.value, node)
        return method

    def _argument(self, label: str, param: Param, arg: ast.expr, depth: int) -> Node:
        compiled = self.compile(arg, depth)
        if not param.types:  # any expression (fillna)
            if isinstance(compiled, ListLiteral):
                raise ExpressionError(f"{label}(): {param.name} cannot be a list", arg)
            return compiled
        if param.types == _LIST:
            if not isinstance(compiled, ListLiteral):
                raise ExpressionError(f"{label}(): {param.name} must be a list of literals, e.g. ['a', 'b']", arg)
            return compiled
        if not isinstance(compiled, Literal):
            raise ExpressionError(f"{label}(): {param.name} must be a literal", arg)
        value = compiled.value
        if value is None and not param.required and param.name in ("na", "case", "to_strip", "start", "stop", "step", "lower", "upper"):
            return compiled
        if not _is_type(value, param.types):
            wanted = " or ".join(t.__name__ for t in param.types)
            raise ExpressionError(f"{label}(): {param.name} must be {wanted}, not {type(value).__name__}", arg)
        if param.choices is not None and value not in param.choices:
            raise ExpressionError(f"{label}(): {param.name} must be one of {', '.join(map(repr, param.choices))}", arg)
        if param.bounds is not None and isinstance(value, int) and not param.bounds[0] <= value <= param.bounds[1]:
            raise ExpressionError(f"{label}(): {param.name} must be between {param.bounds[0]} and {param.bounds[1]}", arg)
        return compiled

    def _function(self, name: str, node: ast.Call, depth: int) -> Node:
        arity = FUNCTIONS.get(name)
        if arity is None:
            raise ExpressionError(f"function {name!r} is not allowed (allowed: {', '.join(FUNCTIONS)})", node)
        if node.keywords:
            raise ExpressionError(f"{name}() takes positional arguments only", node)
        if not arity[0] <= len(node.args) <= arity[1]:
            count = str(arity[0]) if arity[0] == arity[1] else f"{arity[0]} or {arity[1]}"
            raise ExpressionError(f"{name}() takes {count} argument(s)", node)
        args = tuple(self.compile(a, depth) for a in node.args)
        for arg, source in zip(args, node.args, strict=True):
            if isinstance(arg, ListLiteral):
                raise ExpressionError(f"{name}() does not take a list", source)
        if name == "round" and len(args) == 2:
            digits = args[1]
            if not (isinstance(digits, Literal) and _is_type(digits.value, _INT) and -15 <= int(digits.value or 0) <= 15):
                raise ExpressionError("round(): digits must be a whole-number literal between -15 and 15", node.args[1])
        if all(isinstance(a, Literal) for a in args):
            raise ExpressionError(f"{name}() of literals only is not a column expression", node)
        return Function(name, args)


def _is_type(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _check_attribute_name(name: str, node: ast.AST, column: bool = False) -> None:
    if name.startswith("__") and name.endswith("__"):
        raise ExpressionError(f"dunder names ({name}) are not allowed", node)
    if name.startswith("_") and not column:
        raise ExpressionError(f"private names ({name}) are not allowed (a column named so: use ['{name}'])", node)


def _literal(node: ast.Constant) -> Scalar:
    value = node.value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ExpressionError(f"a text literal may have at most {MAX_STRING} characters", node)
        return value
    if isinstance(value, int):
        if abs(value) > INT64:
            raise ExpressionError("an integer literal must fit in 64 bits", node)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError("a number literal must be finite", node)
        return value
    raise ExpressionError(f"{type(value).__name__} literals are not allowed", node)


def _fold(op: str, left: Scalar, right: Scalar, node: ast.AST) -> Scalar:
    """Arithmetic on two literals, computed now with bounds (no 2**10**10, no huge text)."""
    if isinstance(left, str) or isinstance(right, str):
        if op == "add" and isinstance(left, str) and isinstance(right, str):
            if len(left) + len(right) > MAX_STRING:
                raise ExpressionError(f"a text literal may have at most {MAX_STRING} characters", node)
            return left + right
        raise ExpressionError("this operator does not apply to text literals", node)
    if isinstance(left, bool) or isinstance(right, bool):
        raise ExpressionError("arithmetic on True/False literals is not allowed", node)
    assert isinstance(left, int | float) and isinstance(right, int | float)
    if op == "pow":
        if abs(right) > MAX_EXPONENT:
            raise ExpressionError(f"a literal power's exponent may be at most {MAX_EXPONENT} (this one is {right})", node)
        if left == 0 and right < 0:
            raise ExpressionError("zero to a negative power", node)
    if op in ("truediv", "floordiv", "mod") and right == 0:
        raise ExpressionError("division by zero", node)
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "truediv": lambda a, b: a / b,
        "floordiv": lambda a, b: a // b,
        "mod": lambda a, b: a % b,
        "pow": lambda a, b: a**b,
    }
    try:
        result = operations[op](left, right)
    except (OverflowError, ZeroDivisionError, ValueError) as error:
        raise ExpressionError(f"literal arithmetic fails: {error}", node) from None
    if isinstance(result, complex):
        raise ExpressionError("literal arithmetic gives a complex number", node)
    if isinstance(result, int) and abs(result) > INT64:
        raise ExpressionError("literal arithmetic leaves 64 bits", node)
    if isinstance(result, float) and not math.isfinite(result):
        raise ExpressionError("literal arithmetic is not finite", node)
    assert isinstance(result, int | float)
    return result


def _describe(node: ast.AST) -> str:
    names = {
        ast.Import: "import",
        ast.Call: "this call",
        ast.Attribute: "this attribute",
        ast.MatMult: "@",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitXor: "^",
    }
    return names.get(type(node), type(node).__name__)


_NESTED_REPEAT = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def check_regex(pattern: str, node: ast.AST | None = None) -> None:
    """A regular expression that compiles, is short, and cannot backtrack catastrophically
    (no quantifier inside a repeated group, no back-references)."""
    if len(pattern) > MAX_REGEX:
        raise ExpressionError(f"a regular expression may have at most {MAX_REGEX} characters", node)
    try:
        re.compile(pattern)
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        raise ExpressionError(f"not a valid regular expression: {error}", node) from None

    def visit(items: Any, inside_repeat: bool) -> None:
        for op, argument in items:
            name = str(op)
            if name in ("GROUPREF", "GROUPREF_EXISTS"):
                raise ExpressionError("back-references are not allowed in regular expressions", node)
            if name in _NESTED_REPEAT:
                low, high, sub = argument
                repeats = high != low and (high > 1 or str(high) == "MAXREPEAT")
                if repeats and inside_repeat:
                    raise ExpressionError(
                        "nested quantifiers (like (a+)+) are not allowed in regular expressions: "
                        "they can take exponential time",
                        node,
                    )
                visit(sub, inside_repeat or repeats)
            elif name == "SUBPATTERN":
                visit(argument[-1], inside_repeat)
            elif name == "BRANCH":
                for branch in argument[1]:
                    visit(branch, inside_repeat)
            elif name in ("ASSERT", "ASSERT_NOT"):
                visit(argument[1], inside_repeat)

    visit(parsed, False)


def _compile(text: Any, purpose: str, table_name: str, value_name: str | None) -> Plan:
    if not isinstance(text, str):
        raise ExpressionError(f"the {purpose} must be text")
    if not text.strip():
        raise ExpressionError(f"the {purpose} is empty")
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"the {purpose} may have at most {MAX_TEXT} characters (it has {len(text)})")
    if not table_name.isidentifier() or table_name in FUNCTIONS or table_name in ("True", "False", "None"):
        raise ExpressionError(f"table name {table_name!r} must be a plain identifier")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        position = (error.lineno or 1, error.offset or 1) if error.lineno else None
        raise ExpressionError(f"not a valid expression: {error.msg}", position=position) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"the {purpose} is nested too deeply to parse") from None
    compiler = _Compiler(text, purpose, table_name, value_name)
    try:
        root = compiler.compile(tree.body)
    except RecursionError:
        raise ExpressionError(f"the {purpose} is nested too deeply") from None
    if isinstance(root, ListLiteral):
        raise ExpressionError(f"the {purpose} is a list, not a column expression")
    if purpose == "predicate":
        if isinstance(root, Literal):
            raise ExpressionError("the predicate is a literal, not a condition on the table's columns")
        if root.kind not in ("bool", "any"):
            raise ExpressionError(
                f"the predicate gives {'text' if root.kind == 'string' else root.kind} values, not a condition "
                "(compare it, e.g. ... > 0, or use a method such as .str.contains(...))"
            )
    return Plan(
        text=text,
        root=root,
        purpose=purpose,
        table_name=table_name,
        value_name=value_name,
        columns=tuple(compiler.columns),
    )


def compile_predicate(text: str, table_name: str = "metadata") -> Plan:
    """A filter predicate (a condition per row); raises `ExpressionError` (a ValueError)."""
    return _compile(text, "predicate", table_name, None)


def compile_expression(text: str, table_name: str = "metadata", value_name: str = "x") -> Plan:
    """A transform expression over ``x`` (the column) and/or the table's columns."""
    return _compile(text, "expression", table_name, value_name)


def validate_predicate(text: str, table_name: str = "metadata") -> Plan:
    """For pydantic validators: the plan, or a ValueError naming the problem and its position."""
    return compile_predicate(text, table_name)


def validate_expression(text: str, table_name: str = "metadata") -> Plan:
    return compile_expression(text, table_name)


# ------------------------------------------------------------------ pandas backend
def missing_columns(plan: Plan, columns: Any) -> list[str]:
    present = {str(c) for c in columns}
    return [c for c in plan.columns if c not in present]


def evaluate(plan: Plan, frame: Any, value: Any = None) -> Any:
    """The plan on a DataFrame, as whole-column pandas operations. ``value`` is the Series
    bound to ``x`` (transforms). Raises `EvaluationError` (missing columns, wrong types)."""
    missing = missing_columns(plan, frame.columns)
    if missing:
        listed = ", ".join(map(str, frame.columns)) or "none"
        raise EvaluationError(
            f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} not in the table (its columns: {listed})"
        )
    if plan.uses_value and value is None:
        raise EvaluationError("the expression uses x but no column is bound to it")
    try:
        return _Pandas(frame, value).run(plan.root)
    except EvaluationError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError, OverflowError, IndexError) as error:
        raise EvaluationError(f"cannot evaluate {plan.text!r} on this table: {type(error).__name__}: {error}") from None


def predicate_mask(plan: Plan, frame: Any) -> Any:
    """A boolean Series (missing counts as False): which rows a predicate keeps."""
    import pandas as pd

    result = evaluate(plan, frame)
    if not isinstance(result, pd.Series):
        raise EvaluationError(f"the predicate {plan.text!r} does not depend on the table's rows")
    if result.dtype == bool:
        return result
    if result.dtype == "boolean":
        return result.fillna(False).astype(bool)
    if result.dtype == object:
        kinds = {type(v) for v in result.dropna().tolist()[:1000]}
        if kinds <= {bool}:
            return result.fillna(False).astype(bool)
    raise EvaluationError(f"the predicate {plan.text!r} gives {result.dtype} values, not True/False")


_TEXT_PREDICATES = frozenset(
    ("contains", "startswith", "endswith", "match", "fullmatch", "isdigit", "isalpha", "isalnum", "isnumeric", "isspace", "islower", "isupper")
)


class _Pandas:
    def __init__(self, frame: Any, value: Any) -> None:
        self.frame = frame
        self.value = value

    def run(self, node: Node) -> Any:
        import operator

        import pandas as pd

        if isinstance(node, Column):
            return self.frame[node.name]
        if isinstance(node, Value):
            return self.value
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, ListLiteral):
            return list(node.values)
        if isinstance(node, Unary):
            operand = self.run(node.operand)
            if node.op == "neg":
                return -operand
            if node.op == "pos":
                return +operand
            if isinstance(operand, pd.Series):
                operand = _as_logical(operand) if node.op == "not" or operand.dtype == object else operand
            elif node.op == "not":
                return not operand
            return ~operand
        if isinstance(node, Binary):
            left, right = self.run(node.left), self.run(node.right)
            _refuse_text_repetition(node.op, left, right)
            operations: dict[str, Callable[[Any, Any], Any]] = {
                "add": operator.add,
                "sub": operator.sub,
                "mul": operator.mul,
                "truediv": operator.truediv,
                "floordiv": operator.floordiv,
                "mod": operator.mod,
                "pow": operator.pow,
            }
            return operations[node.op](left, right)
        if isinstance(node, Compare):
            compares: dict[str, Callable[[Any, Any], Any]] = {
                "eq": operator.eq,
                "ne": operator.ne,
                "lt": operator.lt,
                "le": operator.le,
                "gt": operator.gt,
                "ge": operator.ge,
            }
            return compares[node.op](self.run(node.left), self.run(node.right))
        if isinstance(node, Logical):
            values = [self.run(o) for o in node.operands]
            values = [_as_logical(v) if isinstance(v, pd.Series) and v.dtype == object else v for v in values]
            combined = values[0]
            for item in values[1:]:
                combined = (combined & item) if node.op == "and" else (combined | item)
            return combined
        if isinstance(node, Method):
            return self.method(node)
        if isinstance(node, Property):
            return getattr(self.run(node.target).dt, _DT_ATTRIBUTE[node.name])
        if isinstance(node, Slice):
            return _text(self.run(node.target), "slicing").str.slice(node.start, node.stop, node.step)
        if isinstance(node, Function):
            return self.function(node)
        raise EvaluationError(f"unknown plan node {type(node).__name__}")  # pragma: no cover

    def method(self, node: Method) -> Any:
        import pandas as pd

        target = self.run(node.target)
        if not isinstance(target, pd.Series):
            raise EvaluationError(f"{node.name}() needs a column")
        if node.namespace == "series":
            return self.series_method(node, target)
        if node.namespace == "dt":
            return target.dt.normalize()
        text = _text(target, f".str.{node.name}()" if not isinstance(node.target, Value) else f"x.{node.name}()").str
        lit = node.literal
        name = node.name
        if name == "contains":
            result = text.contains(lit("pat"), case=lit("case"), na=lit("na"), regex=lit("regex"))
        elif name in ("match", "fullmatch"):
            call = text.match if name == "match" else text.fullmatch
            result = call(lit("pat"), case=lit("case"), na=lit("na"))
        elif name in ("startswith", "endswith"):
            call = text.startswith if name == "startswith" else text.endswith
            result = call(lit("pat"), na=lit("na"))
        elif name == "replace":
            return text.replace(lit("pat"), lit("repl"), n=lit("n"), case=lit("case"), regex=lit("regex"))
        elif name == "count":
            pattern = lit("pat")
            return text.count(re.escape(pattern) if isinstance(node.target, Value) else pattern)
        elif name == "find":
            return text.find(lit("sub"))
        elif name in ("strip", "lstrip", "rstrip"):
            return _STRIPS[name](text, lit("to_strip"))
        elif name == "zfill":
            return text.zfill(lit("width"))
        elif name == "slice":
            return text.slice(lit("start"), lit("stop"), lit("step"))
        else:
            result = _NO_ARGUMENT_TEXT[name](text)
        if name in _TEXT_PREDICATES and result.dtype == object:
            return _as_logical(result)
        return result

    def series_method(self, node: Method, target: Any) -> Any:
        lit = node.literal
        name = node.name
        if name == "isin":
            return target.isin(lit("values"))
        if name == "between":
            return target.between(lit("left"), lit("right"), inclusive=lit("inclusive"))
        if name in ("isna", "isnull"):
            return target.isna()
        if name in ("notna", "notnull"):
            return target.notna()
        if name == "fillna":
            argument = node.argument("value")
            assert argument is not None
            return target.fillna(self.run(argument))
        if name == "abs":
            return target.abs()
        if name == "round":
            return target.round(lit("decimals"))
        if name == "clip":
            return target.clip(lower=lit("lower"), upper=lit("upper"))
        if name == "astype":
            dtype = lit("dtype")
            if dtype == "datetime64[ns]":
                import pandas as pd

                return pd.to_datetime(target)
            return target.astype(dtype)
        if name == "replace":
            return target.replace(lit("to_replace"), lit("value"))
        raise EvaluationError(f"unknown method {name}")  # pragma: no cover

    def function(self, node: Function) -> Any:
        import numpy as np
        import pandas as pd

        args = [self.run(a) for a in node.args]
        if node.name == "abs":
            return abs(args[0])
        if node.name == "round":
            digits = int(args[1]) if len(args) > 1 else 0
            return args[0].round(digits) if isinstance(args[0], pd.Series) else round(args[0], digits)
        if node.name == "len":
            return _text(args[0], "len()").str.len()
        if node.name == "where":
            condition, yes, no = args
            if isinstance(condition, pd.Series):
                condition = _as_logical(condition).fillna(False).astype(bool) if condition.dtype != bool else condition
            index = self.frame.index
            yes_series = yes if isinstance(yes, pd.Series) else pd.Series(yes, index=index)
            return yes_series.where(condition, no if not isinstance(no, pd.Series) else no)
        if node.name == "coalesce":
            first, second = args
            if not isinstance(first, pd.Series):
                first = pd.Series(first, index=self.frame.index)
            return first.fillna(second)
        raise EvaluationError(f"unknown function {node.name}")  # pragma: no cover
        _ = np  # pragma: no cover


_DT_ATTRIBUTE = {name: name for name in DT_PROPERTIES}
_STRIPS: dict[str, Callable[[Any, Any], Any]] = {
    "strip": lambda s, c: s.strip(c),
    "lstrip": lambda s, c: s.lstrip(c),
    "rstrip": lambda s, c: s.rstrip(c),
}
_NO_ARGUMENT_TEXT: dict[str, Callable[[Any], Any]] = {
    "len": lambda s: s.len(),
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "title": lambda s: s.title(),
    "capitalize": lambda s: s.capitalize(),
    "swapcase": lambda s: s.swapcase(),
    "isdigit": lambda s: s.isdigit(),
    "isalpha": lambda s: s.isalpha(),
    "isalnum": lambda s: s.isalnum(),
    "isnumeric": lambda s: s.isnumeric(),
    "isspace": lambda s: s.isspace(),
    "islower": lambda s: s.islower(),
    "isupper": lambda s: s.isupper(),
}


def _text(series: Any, what: str) -> Any:
    import pandas as pd

    if not isinstance(series, pd.Series):
        raise EvaluationError(f"{what} needs a text column")
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        return series
    raise EvaluationError(f"{what} needs text; {series.name!r} holds {series.dtype}")


def _as_logical(series: Any) -> Any:
    """An object column of True/False/missing as pandas' nullable boolean (three-valued logic,
    as in Spark) instead of object arithmetic (``~True == -2``)."""
    if series.dtype == object:
        try:
            return series.astype("boolean")
        except (TypeError, ValueError):
            raise EvaluationError(f"{series.name!r} is not a True/False column") from None
    return series


def _refuse_text_repetition(op: str, left: Any, right: Any) -> None:
    import pandas as pd

    if op != "mul":
        return
    for side in (left, right):
        if isinstance(side, str) or (isinstance(side, pd.Series) and (side.dtype == object or isinstance(side.dtype, pd.StringDtype))):
            raise EvaluationError("'*' on text (string repetition) is not allowed")
