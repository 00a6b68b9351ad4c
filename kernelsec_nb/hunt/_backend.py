"""A pySigma backend that turns one Sigma rule into a DuckDB ``WHERE`` expression.

Why a backend of our own (on pySigma's :class:`~sigma.conversion.base.TextQueryBackend`) rather
than ``pysigma-backend-duckdb`` or a generic SQL backend: every value of a rule is untrusted text,
and the project's rule is that such values reach DuckDB as **parameters**, never as SQL text.
Text backends splice quoted literals into the query; this one writes a named parameter
(``$r3_0``) wherever a value goes and collects the values beside the expression, so a rule with
``'`` or ``--`` in a value is just a value.  Field names come from our own field mapping only and
are always double-quoted (``"binary"`` is a keyword in DuckDB's grammar).

Sigma's matching is case-insensitive unless ``|cased``: strings become ``ILIKE`` patterns (``*``
→ ``%``, ``?`` → ``_``; a literal ``%``, ``_`` or ``\\`` is escaped, and only then is ``ESCAPE``
written, which DuckDB evaluates more slowly).  ``|re`` uses DuckDB's RE2 ``regexp_matches`` (a
search, like Sigma's); ``|cidr`` compares IPv4 addresses as integers; numbers compare as text
for equality and as numbers for ``|lt``/``|gt``…  Every value in the views the rules run over is
text (:mod:`kernelsec_nb.hunt._sources`).

Examples
--------
>>> from sigma.collection import SigmaCollection
>>> from kernelsec_nb.hunt._backend import DuckDBBackend
>>> rule = SigmaCollection.from_yaml('''
... title: t
... logsource: {category: process_creation, product: linux}
... detection: {sel: {binary|endswith: "/nc"}, condition: sel}
... ''').rules[0]
>>> DuckDBBackend().to_sql(rule, "r0")
('"binary" ILIKE $r0_0', {'r0_0': '%/nc'})
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
)

_LIKE_SPECIAL = "%_\\"


class DuckDBBackend(TextQueryBackend):
    """Sigma → DuckDB boolean expression with named parameters (see the module docstring)."""

    name: ClassVar[str] = "kernelsec_nb DuckDB"
    formats: ClassVar[dict[str, str]] = {"default": "DuckDB WHERE expression with $parameters"}
    requires_pipeline: ClassVar[bool] = False

    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "

    field_quote: ClassVar[str] = '"'
    field_quote_pattern: ClassVar[re.Pattern[str] | None] = None  # always quote
    field_escape: ClassVar[str] = '"'
    field_escape_quote: ClassVar[bool] = True

    # strings are ours (the conversions below), these only keep the base class consistent
    str_quote: ClassVar[str] = ""
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "%"
    wildcard_single: ClassVar[str] = "_"
    add_escaped: ClassVar[str] = _LIKE_SPECIAL
    bool_values: ClassVar[dict[bool, str | None]] = {True: "'true'", False: "'false'"}

    re_expression: ClassVar[str] = "regexp_matches({field}, {regex})"
    field_null_expression: ClassVar[str] = "{field} IS NULL"
    field_exists_expression: ClassVar[str] = "{field} IS NOT NULL"
    field_not_exists_expression: ClassVar[str] = "{field} IS NULL"
    field_equals_field_expression: ClassVar[str] = "lower({field1}) = lower({field2})"
    compare_op_expression: ClassVar[str] = "TRY_CAST({field} AS DOUBLE) {operator} {value}"
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<", CompareOperators.LTE: "<=",
        CompareOperators.GT: ">", CompareOperators.GTE: ">=",
    }
    # value-only rules (keywords) and deferred parts are not supported: no unbound expressions

    def __init__(self, processing_pipeline: ProcessingPipeline | None = None,
                 columns: frozenset[str] | None = None) -> None:
        super().__init__(processing_pipeline=processing_pipeline)
        self.columns = columns
        self._prefix = "p"
        self._params: dict[str, Any] = {}

    # -- parameters --------------------------------------------------------------------------
    def _param(self, value: Any) -> str:
        name = f"{self._prefix}_{len(self._params)}"
        self._params[name] = value
        return f"${name}"

    def to_sql(self, rule: SigmaRule, prefix: str,
               columns: frozenset[str] | None = None) -> tuple[str, dict[str, Any]]:
        """The rule's condition(s) as one SQL expression over the columns, and its parameters.

        ``prefix`` names the parameters (``$<prefix>_<n>``) so that several rules can share
        one query.  ``columns`` (default: the backend's) are the columns the rule may use: any
        other field is a :class:`SigmaFeatureNotSupportedByBackendError` naming it.
        """
        self._prefix, self._params = prefix, {}
        saved, self.columns = self.columns, columns if columns is not None else self.columns
        try:
            queries = self.convert_rule(rule)
        finally:
            self.columns = saved
        if not queries:
            raise SigmaFeatureNotSupportedByBackendError("the rule has no condition to convert")
        sql = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
        return sql, dict(self._params)

    # -- fields ------------------------------------------------------------------------------
    def escape_and_quote_field(self, field_name: str) -> str:
        if self.columns is not None and field_name not in self.columns:
            raise SigmaFeatureNotSupportedByBackendError(
                f"field {field_name!r} has no column in this log source's view")
        return super().escape_and_quote_field(field_name)

    # -- strings -----------------------------------------------------------------------------
    def _like(self, field: str, value: SigmaString, op: str) -> str:
        pattern = value.convert(self.escape_char, "%", "_", _LIKE_SPECIAL)
        has_escape = any(isinstance(p, str) and any(c in p for c in _LIKE_SPECIAL) for p in value.s)
        escape = " ESCAPE '\\'" if has_escape else ""
        return f"{self.escape_and_quote_field(field)} {op} {self._param(pattern)}{escape}"

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        return self._like(cond.field, cond.value, "ILIKE")

    def convert_condition_field_eq_val_str_case_sensitive(
            self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        return self._like(cond.field, cond.value, "LIKE")

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        # every view column is text: compare as text, and as a number when the text is one
        field = self.escape_and_quote_field(cond.field)
        number = cond.value.number  # type: ignore[union-attr]
        return (f"({field} = {self._param(str(number))} OR "
                f"TRY_CAST({field} AS DOUBLE) = {self._param(float(number))})")

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        op = self.compare_operators.get(value.op)
        if op is None:
            raise SigmaFeatureNotSupportedByBackendError(f"comparison {value.op} is not supported")
        return self.compare_op_expression.format(
            field=self.escape_and_quote_field(cond.field), operator=op,
            value=self._param(float(value.number.number)))

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        flags = {SigmaRegularExpressionFlag.IGNORECASE: "i", SigmaRegularExpressionFlag.MULTILINE: "m",
                 SigmaRegularExpressionFlag.DOTALL: "s"}
        prefix = "".join(flags[f] for f in sorted(r.flags, key=lambda f: f.value) if f in flags)
        return self._param((f"(?{prefix})" if prefix else "") + str(r.regexp))

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        return self.re_expression.format(field=self.escape_and_quote_field(cond.field),
                                         regex=self.convert_value_re(cond.value, state))

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        cidr = cond.value
        assert isinstance(cidr, SigmaCIDRExpression)
        net = cidr.network
        field = self.escape_and_quote_field(cond.field)
        if isinstance(net, ipaddress.IPv4Network):
            as_int = " + ".join(f"TRY_CAST(split_part({field}, '.', {i + 1}) AS UBIGINT) * {256 ** (3 - i)}"
                                for i in range(4))
            lo, hi = int(net.network_address), int(net.broadcast_address)
            return (f"(regexp_full_match({field}, '\\d{{1,3}}(\\.\\d{{1,3}}){{3}}') AND "
                    f"({as_int}) BETWEEN {lo} AND {hi})")
        # IPv6: the network's addresses as text prefixes, the way pySigma expands a CIDR
        items: list[ConditionItem | ConditionFieldEqualsValueExpression] = [
            ConditionFieldEqualsValueExpression(cond.field, SigmaString(prefix))
            for prefix in cidr.expand()]
        return str(self.convert_condition(ConditionOR(items, cond.source), state))  # type: ignore[arg-type]

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str | None:
        # a field the record lacks makes its comparison NULL, which is "no match" under AND and
        # OR but would stay NULL under NOT: Sigma's ``not sel`` is true when ``sel`` did not match
        arg = cond.args[0]
        if arg is None:
            return None
        return f"NOT coalesce(({self.convert_condition(arg, state)}), false)"  # type: ignore[arg-type]

    # -- what is not supported says so ---------------------------------------------------------
    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError(
            "keyword (value-only) detections are not supported: name a field")

    convert_condition_val_num = convert_condition_val_str
    convert_condition_val_re = convert_condition_val_str
