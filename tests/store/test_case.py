"""The case's query methods, written as an analyst writes them."""

import pytest

import kernelsec_nb as kn
from tests.store import lines


def test_sql_takes_binary_bare_as_the_issue_writes_it(tmp_path):
    # DuckDB reads a bare `binary` as the type keyword (a parser error); the column is `binary`
    export = tmp_path / "tetragon.json"
    export.write_text(lines.tetragon_exec(binary="/bin/binary") + "\n")
    with kn.open_case(tmp_path / "c.duckdb") as case:
        case.load(export, progress=False)
        got = case.sql("select binary, count(*) from processes where pod = ? group by 1",
                       ["web-7d9f8b6c5d-abcde"])
        assert got.rows() == [("/bin/binary", 1)]
        # strings, comments and the type itself are left as they are
        got = case.sql("select 'binary' as s, binary as b, 'x'::binary as t -- binary\n"
                       "from processes p where p.binary like '%binary' order by binary")
        assert got.rows() == [("binary", "/bin/binary", b"x")]


def test_a_closed_case_and_a_path_that_is_no_path_are_one_line_errors(tmp_path):
    from kernelsec_nb.store import CaseError, LoadPathError

    case = kn.open_case(tmp_path / "c.duckdb")
    for bad in (None, 5, [None], {"a": 1}):
        with pytest.raises(LoadPathError, match="to load"):
            case.load(bad, progress=False)
    case.close()
    case.close()  # a second close is no error
    with pytest.raises(CaseError, match="is closed: kn.open_case"):
        case.events()
    with pytest.raises(CaseError, match="is closed"):
        case.sql("SELECT 1")
