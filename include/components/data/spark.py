"""The expression plan as native Spark Column expressions, and the Spark session we start.

`to_column(plan, frame)` translates the SAME plan the pandas backend evaluates
(`airgenome.components.data.expressions`) into ``pyspark.sql`` Column expressions: no Python
UDF, so every operation runs in the JVM. Missing values follow pandas' rules (a comparison
with a missing value is False, ``!=`` True; ``isna`` is true for null and NaN), so a filter
keeps the same rows in both backends.

Plan parts with no native Spark expression of the same meaning are refused before anything
runs (`unsupported`, used by the ``spark.apply`` parameter validator): ``.str.title``,
``.str.capitalize``, ``.str.swapcase`` (Spark's ``initcap`` splits words differently), the
``.str.is*`` family (Unicode classes differ), ``.str.zfill`` (sign handling), ``str.replace``
with ``n`` or a regex replacement that uses back-references (``$``/``\\`` syntax differs),
slices with negative bounds or a step, and ``astype('datetime64[ns]')``. Regular expressions
run on Java's engine in Spark: the allowed subset (no back-references, no nested quantifiers)
means the same in both for ordinary patterns.
"""

from __future__ import annotations

import os
from typing import Any

from airgenome.components.data.expressions import (
    Binary,
    Column,
    Compare,
    EvaluationError,
    Function,
    ListLiteral,
    Literal,
    Logical,
    Method,
    Node,
    Plan,
    Property,
    Slice,
    Unary,
    Value,
    missing_columns,
    walk,
)

# namespace.name -> why it has no native Spark translation
NO_NATIVE: dict[str, str] = {
    "str.title": "Spark's initcap splits words at spaces only",
    "str.capitalize": "no native equivalent",
    "str.swapcase": "no native equivalent",
    "str.isdigit": "Unicode character classes differ",
    "str.isalpha": "Unicode character classes differ",
    "str.isalnum": "Unicode character classes differ",
    "str.isnumeric": "Unicode character classes differ",
    "str.isspace": "Unicode character classes differ",
    "str.islower": "no native equivalent",
    "str.isupper": "no native equivalent",
    "str.zfill": "lpad handles signs differently",
}


def unsupported(plan: Plan) -> list[str]:
    """The parts of a plan that have no native Spark expression (empty: all translate)."""
    problems: list[str] = []
    for node in walk(plan.root):
        if isinstance(node, Method):
            key = f"{node.namespace}.{node.name}"
            if key in NO_NATIVE:
                problems.append(f".{key}() ({NO_NATIVE[key]})")
            elif key == "str.replace":
                if node.literal("n") != -1:
                    problems.append(".str.replace(n=...) (Spark replaces every match)")
                if node.literal("regex") and any(c in str(node.literal("repl")) for c in "\\$"):
                    problems.append(".str.replace(regex=True) with \\ or $ in the replacement (syntax differs)")
            elif key == "str.slice" and not _simple_slice(node.literal("start"), node.literal("stop"), node.literal("step")):
                problems.append(".str.slice() with negative bounds or a step")
            elif key == "series.astype" and node.literal("dtype") == "datetime64[ns]":
                problems.append(".astype('datetime64[ns]') (parsing rules differ)")
        elif isinstance(node, Slice) and not _simple_slice(node.start, node.stop, node.step):
            problems.append("a text slice with negative bounds or a step")
    return problems


def _simple_slice(start: Any, stop: Any, step: Any) -> bool:
    return step in (None, 1) and (start is None or start >= 0) and (stop is None or stop >= 0)


# ------------------------------------------------------------------ session
def start_session(master: str = "local[*]", app_name: str = "airgenome", extra: dict[str, str] | None = None) -> Any:
    """A SparkSession bound to loopback (the driver would bind eth0 otherwise); with
    ``master="submit"`` the master and the driver's address are spark-submit's (a
    SparkApplication's driver: its executors reach it through the driver's service)."""
    from pyspark.sql import SparkSession

    if master == "submit":
        builder = SparkSession.builder
    else:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # read by the JVM we are about to start
        builder = (
            SparkSession.builder.master(master)
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
    builder = (
        builder.appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # no progress bars in the step's log
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")  # pandas semantics: x / 0 is not an error
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    for key, value in (extra or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


# ------------------------------------------------------------------ translation
def to_column(plan: Plan, frame: Any, value_column: str | None = None) -> Any:
    """The plan as one Spark Column over ``frame`` (a Spark DataFrame); ``x`` is
    ``value_column``. Raises `EvaluationError` on missing columns or untranslatable parts."""
    missing = missing_columns(plan, frame.columns)
    if missing:
        raise EvaluationError(
            f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} not in the table "
            f"(its columns: {', '.join(frame.columns)})"
        )
    problems = unsupported(plan)
    if problems:
        raise EvaluationError(f"no native Spark expression for {'; '.join(problems)}")
    if plan.uses_value and value_column is None:
        raise EvaluationError("the expression uses x but no column is bound to it")
    column, _ = _Spark(frame, value_column).run(plan.root)
    return column


def predicate_column(plan: Plan, frame: Any) -> Any:
    """A filter condition: missing counts as False (as in the pandas backend)."""
    from pyspark.sql import functions as F  # noqa: N812

    return F.coalesce(to_column(plan, frame), F.lit(False))


class _Spark:
    def __init__(self, frame: Any, value_column: str | None) -> None:
        self.frame = frame
        self.value_column = value_column
        self.types = {field.name: field.dataType for field in frame.schema.fields}

    def kind_of(self, name: str) -> str:
        from pyspark.sql import types as T  # noqa: N812

        data_type = self.types[name]
        if isinstance(data_type, T.StringType):
            return "string"
        if isinstance(data_type, T.BooleanType):
            return "bool"
        if isinstance(data_type, T.NumericType):
            return "float" if isinstance(data_type, T.FloatType | T.DoubleType) else "number"
        if isinstance(data_type, T.TimestampType | T.TimestampNTZType | T.DateType):
            return "datetime"
        return "any"

    def col(self, name: str) -> tuple[Any, str]:
        from pyspark.sql import functions as F  # noqa: N812

        return F.col("`" + name.replace("`", "``") + "`"), self.kind_of(name)

    def run(self, node: Node) -> tuple[Any, str]:  # noqa: C901 - one dispatch
        from pyspark.sql import functions as F  # noqa: N812

        if isinstance(node, Column):
            return self.col(node.name)
        if isinstance(node, Value):
            assert self.value_column is not None
            return self.col(self.value_column)
        if isinstance(node, Literal):
            kind = node.kind if node.kind != "number" else ("float" if isinstance(node.value, float) else "number")
            return F.lit(node.value), kind
        if isinstance(node, ListLiteral):  # pragma: no cover - only as arguments
            raise EvaluationError("a list is not a column")
        if isinstance(node, Unary):
            operand, kind = self.run(node.operand)
            if node.op == "neg":
                return -operand, kind
            if node.op == "pos":
                return operand, kind
            if node.op == "invert" and kind in ("number",):
                return F.bitwise_not(operand), kind
            return ~operand, "bool"
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Compare):
            (left, _), (right, _) = self.run(node.left), self.run(node.right)
            compares = {
                "eq": lambda a, b: a == b,
                "ne": lambda a, b: a != b,
                "lt": lambda a, b: a < b,
                "le": lambda a, b: a <= b,
                "gt": lambda a, b: a > b,
                "ge": lambda a, b: a >= b,
            }
            # pandas: a comparison with a missing value is False, except != which is True
            return F.coalesce(compares[node.op](left, right), F.lit(node.op == "ne")), "bool"
        if isinstance(node, Logical):
            parts = [self.run(o) for o in node.operands]
            numeric = all(k == "number" for _, k in parts)
            combined = parts[0][0]
            for column, _ in parts[1:]:
                if numeric:
                    combined = combined.bitwiseAND(column) if node.op == "and" else combined.bitwiseOR(column)
                else:
                    combined = (combined & column) if node.op == "and" else (combined | column)
            return combined, "number" if numeric else "bool"
        if isinstance(node, Method):
            return self.method(node)
        if isinstance(node, Property):
            return self.dt_property(node)
        if isinstance(node, Slice):
            target, _ = self.run(node.target)
            return _substring(target, node.start, node.stop), "string"
        if isinstance(node, Function):
            return self.function(node)
        raise EvaluationError(f"unknown plan node {type(node).__name__}")  # pragma: no cover

    def binary(self, node: Binary) -> tuple[Any, str]:
        from pyspark.sql import functions as F  # noqa: N812

        (left, lkind), (right, rkind) = self.run(node.left), self.run(node.right)
        if node.op == "add" and "string" in (lkind, rkind):
            return F.concat(left, right), "string"
        if "string" in (lkind, rkind):
            raise EvaluationError(f"'{node.op}' does not apply to text")
        kind = "float" if "float" in (lkind, rkind) or node.op in ("truediv", "pow") else "number"
        if node.op == "add":
            return left + right, kind
        if node.op == "sub":
            return left - right, kind
        if node.op == "mul":
            return left * right, kind
        if node.op == "truediv":
            return left / right, "float"
        if node.op == "floordiv":
            return F.floor(left / right), kind
        if node.op == "mod":  # Python's modulo takes the divisor's sign; Java's the dividend's
            return ((left % right) + right) % right, kind
        return F.pow(left, right), "float"

    def method(self, node: Method) -> tuple[Any, str]:
        from pyspark.sql import functions as F  # noqa: N812

        target, kind = self.run(node.target)
        lit = node.literal
        name = node.name
        if node.namespace == "series":
            if name == "isin":
                return F.coalesce(target.isin(lit("values")), F.lit(False)), "bool"
            if name == "between":
                low, high = F.lit(lit("left")), F.lit(lit("right"))
                inclusive = lit("inclusive")
                lower = target >= low if inclusive in ("both", "left") else target > low
                upper = target <= high if inclusive in ("both", "right") else target < high
                return F.coalesce(lower & upper, F.lit(False)), "bool"
            if name in ("isna", "isnull"):
                return _is_missing(target, kind), "bool"
            if name in ("notna", "notnull"):
                return ~_is_missing(target, kind), "bool"
            if name == "fillna":
                argument = node.argument("value")
                assert argument is not None
                fill, _ = self.run(argument)
                return F.when(_is_missing(target, kind), fill).otherwise(target), kind
            if name == "abs":
                return F.abs(target), kind
            if name == "round":
                return F.bround(target, lit("decimals")), kind
            if name == "clip":
                clipped = target
                if lit("lower") is not None:
                    clipped = F.when(clipped < F.lit(lit("lower")), F.lit(lit("lower"))).otherwise(clipped)
                if lit("upper") is not None:
                    clipped = F.when(clipped > F.lit(lit("upper")), F.lit(lit("upper"))).otherwise(clipped)
                return clipped, kind
            if name == "astype":
                spark_types = {
                    "int64": ("bigint", "number"),
                    "float64": ("double", "float"),
                    "str": ("string", "string"),
                    "string": ("string", "string"),
                    "bool": ("boolean", "bool"),
                    "boolean": ("boolean", "bool"),
                }
                spark_type, new_kind = spark_types[lit("dtype")]
                return target.cast(spark_type), new_kind
            if name == "replace":
                return F.when(target == F.lit(lit("to_replace")), F.lit(lit("value"))).otherwise(target), kind
        if node.namespace == "dt":
            return F.date_trunc("day", target), "datetime"
        return self.text_method(node, target)

    def text_method(self, node: Method, target: Any) -> tuple[Any, str]:
        from pyspark.sql import functions as F  # noqa: N812

        lit = node.literal
        name = node.name
        if name == "contains":
            pattern = lit("pat")
            if lit("regex"):
                result = target.rlike(("(?i)" if lit("case") is False else "") + pattern)
            elif lit("case") is False:
                result = F.lower(target).contains(pattern.lower())
            else:
                result = target.contains(pattern)
            return _na(result, lit("na")), "bool"
        if name in ("match", "fullmatch"):
            anchored = f"\\A(?:{lit('pat')})" + ("\\z" if name == "fullmatch" else "")
            return _na(target.rlike(("(?i)" if lit("case") is False else "") + anchored), lit("na")), "bool"
        if name == "startswith":
            return _na(target.startswith(lit("pat")), lit("na")), "bool"
        if name == "endswith":
            return _na(target.endswith(lit("pat")), lit("na")), "bool"
        if name == "replace":
            pattern, replacement = lit("pat"), lit("repl")
            if lit("regex"):
                prefix = "(?i)" if lit("case") is False else ""
                return F.regexp_replace(target, F.lit(prefix + pattern), F.lit(replacement)), "string"
            if lit("case") is False:
                import re

                return F.regexp_replace(target, F.lit("(?i)" + re.escape(pattern)), F.lit(replacement.replace("\\", "\\\\").replace("$", "\\$"))), "string"
            return F.replace(target, F.lit(pattern), F.lit(replacement)), "string"
        if name == "count":
            import re

            pattern = lit("pat")
            if isinstance(node.target, Value):
                pattern = re.escape(pattern)
            return F.regexp_count(target, F.lit(pattern)), "number"
        if name == "find":
            return F.locate(lit("sub"), target) - 1, "number"
        if name == "len":
            return F.char_length(target), "number"
        if name == "lower":
            return F.lower(target), "string"
        if name == "upper":
            return F.upper(target), "string"
        if name in ("strip", "lstrip", "rstrip"):
            chars = lit("to_strip")
            if chars is None:  # whitespace
                patterns = {"strip": r"^\s+|\s+$", "lstrip": r"^\s+", "rstrip": r"\s+$"}
                return F.regexp_replace(target, F.lit(patterns[name]), F.lit("")), "string"
            trims = {"strip": F.btrim, "lstrip": F.ltrim, "rstrip": F.rtrim}
            return trims[name](target, F.lit(chars)), "string"
        if name == "slice":
            return _substring(target, lit("start"), lit("stop")), "string"
        raise EvaluationError(f"no native Spark expression for .str.{name}()")

    def dt_property(self, node: Property) -> tuple[Any, str]:
        from pyspark.sql import functions as F  # noqa: N812

        target, _ = self.run(node.target)
        simple = {
            "year": F.year,
            "month": F.month,
            "day": F.dayofmonth,
            "hour": F.hour,
            "minute": F.minute,
            "second": F.second,
            "dayofyear": F.dayofyear,
            "quarter": F.quarter,
        }
        if node.name in simple:
            return simple[node.name](target), "number"
        if node.name in ("dayofweek", "weekday"):  # pandas: Monday 0; Spark: Sunday 1
            return (F.dayofweek(target) + 5) % 7, "number"
        if node.name == "is_month_start":
            return F.dayofmonth(target) == 1, "bool"
        return F.last_day(target) == F.to_date(target), "bool"

    def function(self, node: Function) -> tuple[Any, str]:
        from pyspark.sql import functions as F  # noqa: N812

        parts = [self.run(a) for a in node.args]
        if node.name == "abs":
            return F.abs(parts[0][0]), parts[0][1]
        if node.name == "round":
            digits = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], Literal) else 0
            return F.bround(parts[0][0], int(digits or 0)), parts[0][1]
        if node.name == "len":
            return F.char_length(parts[0][0]), "number"
        if node.name == "where":
            (condition, _), (yes, ykind), (no, _) = parts
            return F.when(condition, yes).otherwise(no), ykind
        (first, kind), (second, _) = parts
        return F.when(_is_missing(first, kind), second).otherwise(first), kind


def _is_missing(column: Any, kind: str) -> Any:
    from pyspark.sql import functions as F  # noqa: N812

    if kind == "float":
        return column.isNull() | F.isnan(column)
    return column.isNull()


def _na(result: Any, na: Any) -> Any:
    from pyspark.sql import functions as F  # noqa: N812

    return result if na is None else F.coalesce(result, F.lit(na))


def _substring(target: Any, start: int | None, stop: int | None) -> Any:
    from pyspark.sql import functions as F  # noqa: N812

    first = (start or 0) + 1
    if stop is None:
        return F.substring(target, first, 2_147_483_647)
    return F.substring(target, first, max(stop - (start or 0), 0))
