"""Out-of-fold click-through rates for the train split's rows.

The served workflow encodes a key's click-through rate from every train row (TargetEncoding
with kfold=1): right for valid, test and serving, whose rows it never saw, but on the train
rows themselves each row's own label is inside its encoding, so a model learns to trust a
feature that is weaker on every row it will ever score (500k generated rows: the item's
rate alone reached AUC 0.725 on train and 0.644 on valid, and a DLRM trailed a linear model).

So the train split gets the same features computed out of fold: NVTabular's TargetEncoding
with kfold=FOLDS assigns each train row a fold and encodes it from the other folds only;
the values are then scaled by the served workflow's own Normalize, so a feature means the
same on train rows as at serving. Only the train split's Parquet changes; the saved
workflow, the artifacts and serving are exactly what they were.
"""

from __future__ import annotations

FOLDS = 5
FOLD_SEED = 42  # NVTabular draws each partition's folds from this seed: reruns match


def out_of_fold_workflow(config, stats_dir, *, smoothing: float):
    """A workflow that gives each train row its out-of-fold rates (unscaled)."""
    import nvtabular as nvt
    from nvtabular import ops

    rates = list(config.ctr_statistics) >> ops.TargetEncoding(
        config.label, kfold=FOLDS, fold_seed=FOLD_SEED, p_smooth=smoothing,
        out_dtype="float32", out_path=str(stats_dir / "ctr-folds"), on_host=True)
    return nvt.Workflow(rates)


def rate_scaler(workflow, columns: list[str]):
    """The fitted Normalize op that scales the served workflow's rate columns."""
    from merlin.dag.node import iter_nodes
    from nvtabular.ops import Normalize

    for node in iter_nodes([workflow.output_node]):
        if isinstance(node.op, Normalize) and set(columns) <= set(node.output_columns.names):
            return node.op
    raise RuntimeError(f"no Normalize step scales {columns} in the workflow")


def with_out_of_fold_rates(features, rates, scaler, columns: list[str]):
    """`features` (the served workflow's train output, a Dask DataFrame) with the rate columns
    replaced by `rates`' out-of-fold values, scaled as serving scales them. Both come from
    the same staged files partition by partition, so partitions line up row for row."""
    import dask.dataframe as dd
    from merlin.dag import ColumnSelector

    if features.npartitions != rates.npartitions:
        raise RuntimeError(f"{features.npartitions} feature partitions but "
                           f"{rates.npartitions} out-of-fold partitions")

    def replace(part, part_rates):
        if len(part) != len(part_rates):
            raise RuntimeError(f"a partition of {len(part)} rows got {len(part_rates)} "
                               "out-of-fold rates")
        scaled = scaler.transform(ColumnSelector(columns), part_rates[columns].copy())
        part = part.copy()
        for column in columns:
            part[column] = scaled[column].to_numpy().astype(part[column].dtype)
        return part

    return dd.map_partitions(replace, features, rates, meta=features._meta,
                             align_dataframes=False)
