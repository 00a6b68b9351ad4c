"""The processing pipeline of kernelsec_nb: Sigma field names → the columns of the case's views.

One :class:`~sigma.processing.transformations.FieldMappingTransformation` per log source
category (a :class:`~sigma.processing.conditions.LogsourceCondition` selects it), built from
:data:`kernelsec_nb.hunt._sources.SOURCES`.  A field the mapping does not know stays as written:
the backend then accepts it only when it is a column of the view (a rule may name our columns,
``binary``, ``file_path`` …, directly) and otherwise fails naming the field.

Examples
--------
>>> from kernelsec_nb.hunt._pipeline import pipeline
>>> [item.identifier for item in pipeline().items][:2]
['kernelsec_nb-fields-process_creation', 'kernelsec_nb-fields-network_connection']
"""

from __future__ import annotations

from functools import cache

from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation

from kernelsec_nb.hunt._sources import SOURCES


@cache
def pipeline() -> ProcessingPipeline:
    """The field-mapping pipeline of every mapped log source (a new rule copy is mapped once)."""
    items = [
        ProcessingItem(
            identifier=f"kernelsec_nb-fields-{name}",
            transformation=FieldMappingTransformation(dict(source.fields)),  # type: ignore[arg-type]
            rule_conditions=[LogsourceCondition(**(dict(source.logsource) or {"category": name}))],
        )
        for name, source in SOURCES.items()
    ]
    return ProcessingPipeline(name="kernelsec_nb field mapping", priority=20, items=items)
