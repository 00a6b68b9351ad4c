"""The case's query methods, written as an analyst writes them."""

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
