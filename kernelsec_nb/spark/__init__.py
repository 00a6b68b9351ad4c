"""Build a case's lake with Apache Spark: ``kn.spark.load(spark, paths, lake)``.

The executors run the project's own loader on their share of the files; Spark does what needs
every file (duplicates across files and nodes, the processes, the alerts' Kubernetes fields) and
writes the lake (see the README's "Spark" section).  Importing this module does not import
pyspark: :func:`load` does, and needs the ``spark`` extra (``pip install -e ".[spark]"``) and Java.
"""

from __future__ import annotations

from kernelsec_nb.spark.load import load

__all__ = ["load"]
