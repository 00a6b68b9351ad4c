"""A SparkSession for ``kernelsec-nb spark-load`` (any ``--master``) and for the tests.

Examples
--------
>>> from kernelsec_nb.spark.session import settings
>>> settings("local[2]")["spark.sql.session.timeZone"]
'UTC'
"""

from __future__ import annotations

import os
import sys

#: Settings for a session that only loads (``spark-load``'s, the benchmark's; not one that then
#: queries the lake): its JVM moves event ids and a few small plans, so the optimizing compiler
#: (C2) and whole-stage code generation cost it more CPU than they save.  Measured (``local[1]``,
#: December 7, benchmarks/RESULTS.md): the JVM's CPU seconds 21.2 -> 11.1 on a 6 MB capture,
#: 20.5 -> 14.5 on the 1 GB one.  The driver's JVM only (local mode: the one JVM).
LOAD_ONLY = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    "spark.sql.codegen.wholeStage": "false",
}


def settings(master: str, *, shuffle_partitions: int | None = None,
             extra: dict[str, str] | None = None) -> dict[str, str]:
    """The session's settings: UTC, quiet, and (on a local master) the executors' Python is this one."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if master.startswith("local"):
        conf["spark.ui.enabled"] = "false"
        conf["spark.pyspark.python"] = os.environ.get("PYSPARK_PYTHON", sys.executable)
        conf["spark.pyspark.driver.python"] = sys.executable
    if shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    return conf | (extra or {})


def local_session(master: str = "local[2]", *, shuffle_partitions: int | None = None, app: str = "kernelsec-nb",
                  extra: dict[str, str] | None = None):
    """A SparkSession on ``master`` with :func:`settings` (quiet logs; ``extra``: more settings)."""
    from pyspark.sql import SparkSession

    if master.startswith("local"):  # the Python workers read it from the environment
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app)
    for key, value in settings(master, shuffle_partitions=shuffle_partitions, extra=extra).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
