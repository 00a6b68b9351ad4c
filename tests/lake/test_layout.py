"""The lake's layout: partition values round-trip through folder names, whatever the node name."""

from __future__ import annotations

import duckdb
import pytest

from kernelsec_nb.lake import _layout

HOSTILE = ["../x", "a/b", "=", "\u202eevil", "", None, "a%2Fb", "a+b", "sp ace", "x\ny", "ü", "a:b",
           "__HIVE_DEFAULT_PARTITION__", "..", ".", "123", "2024-01-01", "*?[]{}<>|#^\"'\\", "\x00\x7f",
           "x" * 81, "é" * 41]


@pytest.mark.parametrize("node", HOSTILE)
def test_folder_name_is_one_safe_segment_that_decodes_back(node: str | None) -> None:
    key = _layout.partition_node(node)
    text = _layout.encode_value(key)
    assert "/" not in text and "\\" not in text and "\x00" not in text and text  # one segment: node=<text>
    assert len(text.encode()) + len("node=") <= 255
    assert _layout.decode_value(text) == key
    if node not in (None, "", "__HIVE_DEFAULT_PARTITION__") and len(node.encode()) <= _layout.MAX_PARTITION_BYTES:
        assert key == node  # only NULL, empty, over-long names and the default's name lose their folder name


def test_day_in_sql_is_day_in_python() -> None:
    values = [-(2**63), -86_400 * 10**9 - 1, -86_400 * 10**9, -1, 0, 1, 86_400 * 10**9 - 1, 2**63 - 1, None]
    got = duckdb.sql(f"SELECT t, {_layout.day_sql('t')} FROM unnest(?::BIGINT[]) AS u(t)",  # noqa: S608 - our expression
                     params=[values]).fetchall()
    assert {t: d for t, d in got} == {t: _layout.day_of(t) for t in values}


def test_node_sql_is_partition_node() -> None:
    values = list(HOSTILE)
    got = duckdb.sql(f"SELECT node, {_layout.NODE_SQL} FROM unnest(?::VARCHAR[]) AS u(node)",  # noqa: S608
                     params=[values]).fetchall()
    assert [k for _, k in got] == [_layout.partition_node(v) for v in values]


def test_manifest_round_trips(tmp_path) -> None:
    m = _layout.new_manifest("test")
    assert set(m["tables"]) == set(_layout.TABLES)
    assert ["node", "VARCHAR"] in m["tables"]["flows"]["columns"]
    _layout.write_manifest(tmp_path, m)
    assert _layout.read_manifest(tmp_path) == m
    with pytest.raises(_layout.LakeError, match="not a lake"):
        _layout.read_manifest(tmp_path / "nope")
    _layout.write_manifest(tmp_path, {**m, "version": 99})
    with pytest.raises(_layout.LakeError, match="newer"):
        _layout.read_manifest(tmp_path)


def test_arrow_schema_has_every_column() -> None:
    for table in _layout.TABLES:
        assert _layout.arrow_schema(table).names == [c for c, _ in _layout.schema()[table]]


def test_the_readme_shows_the_schema_of_the_lake() -> None:
    from tests.conftest import REPO

    assert _layout.schema_markdown() in (REPO / "README.md").read_text(), \
        "README.md, The lake: paste kernelsec_nb.lake._layout.schema_markdown() again"
