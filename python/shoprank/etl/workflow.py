"""The NVTabular Workflow a logs config describes. Fitted on the train window only.

Encodings (NVTabular 23.08 Categorify): 0 is padding, 1 null, 2 a value unseen in training
(or rarer than freq_threshold); known values start at 3.
"""

from __future__ import annotations

from pathlib import Path

from shoprank.etl.config import LogsConfig
from shoprank.etl.realtime import LIST_COLUMN as REALTIME_LIST

NULL_ID, UNSEEN_ID = 1, 2
CTR_SMOOTHING = 20  # impressions of prior weight in the smoothed click-through rates


def build_workflow(config: LogsConfig, stats_dir: Path, *, cpu: bool):
    """The unfitted Workflow: categorical, hashed, list, crossed and time features, continuous
    values, statistics, the labels, and passthrough columns."""
    import nvtabular as nvt
    from merlin.schema import Tags
    from nvtabular import ops

    from shoprank.etl.ops.cross import Cross
    from shoprank.etl.ops.hash_bucket import StableHashBucket
    from shoprank.etl.ops.time_features import TimeFeatures
    from shoprank.etl.ops.value_counts import ValueCounts

    # Categorify and TargetEncoding name their statistics files alike: one folder each
    out_path = str(stats_dir / "categories")
    categorify = dict(freq_threshold=config.freq_threshold, out_path=out_path, on_host=True)
    outputs = []
    add = outputs.append

    ids = {config.user_id: [Tags.USER_ID, Tags.USER], config.item_id: [Tags.ITEM_ID, Tags.ITEM]}
    for column in config.categorical:
        node = [column] >> ops.Categorify(**categorify)
        if column in ids:
            node = node >> ops.AddTags(ids[column])
        add(node)
    if config.hashed:
        add(list(config.hashed) >> StableHashBucket(dict(config.hashed)))
    if config.multi_valued:
        add(list(config.multi_valued) >> ops.Categorify(**categorify))
    if config.realtime:  # the columns etl/realtime.py adds to every row
        add([REALTIME_LIST] >> ops.Categorify(**categorify))
    for cross in config.crosses:
        add(list(cross) >> Cross() >> ops.Categorify(**categorify))
    for column in config.time_features:
        add([column] >> TimeFeatures() >> ops.Categorify(freq_threshold=0, out_path=out_path))

    continuous = []
    if config.continuous:
        continuous.append(list(config.continuous) >> ops.FillMissing(fill_val=0)
                          >> ops.Clip(min_value=0) >> ops.LogOp())
    if config.realtime:
        continuous.append(list(config.realtime.columns[1:]) >> ops.LogOp())
    if config.count_statistics:
        continuous.append(list(config.count_statistics) >> ValueCounts() >> ops.LogOp())
    if config.ctr_statistics:
        continuous.append(list(config.ctr_statistics) >> ops.TargetEncoding(
            config.label, kfold=1, p_smooth=CTR_SMOOTHING, out_dtype="float32",
            out_path=str(stats_dir / "ctr"), on_host=True))
    for node in continuous:
        add(node >> ops.Normalize() >> ops.AddTags([Tags.CONTINUOUS]))

    add(list(config.labels) >> ops.AddMetadata(tags=[Tags.TARGET, Tags.BINARY_CLASSIFICATION]))
    if config.passthrough_columns:
        add(nvt.ColumnSelector(list(config.passthrough_columns)))

    graph = outputs[0]
    for node in outputs[1:]:
        graph = graph + node
    return nvt.Workflow(graph)
