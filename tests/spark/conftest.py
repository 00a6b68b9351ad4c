"""One local SparkSession for the whole test session (local[2], two shuffle partitions, no UI,
settings for inputs of a few MB: no adaptive planning, no whole-stage code generation, the JVM's
quick compiler only); the Spark tests are skipped, saying why, where pyspark or Java is missing."""

from __future__ import annotations

import os
import shutil

import pytest

#: Spark settings for test inputs of a few MB: planning and compiling cost more than running.
SMALL_INPUTS = {
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
}


def _missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return 'pyspark is not installed (pip install -e ".[spark]")'
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))):
        return "no Java runtime (apt-get install default-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark():
    why = _missing()
    if why:
        pytest.skip(f"Spark tests need pyspark and Java: {why}")
    from kernelsec_nb.spark.session import local_session

    session = local_session("local[2]", shuffle_partitions=2, extra=SMALL_INPUTS)
    yield session
    session.stop()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/spark/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.spark)


