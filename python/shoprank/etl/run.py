"""``run_etl``: raw logs in, model-ready features out.

Output folder::

    train/ valid/ test/     processed Parquet per split, each with the Merlin schema.pbtxt
    workflow/               the fitted NVTabular Workflow (Workflow.load) and its statistics
    tables/                 every table serving looks up by key: a snapshot of each side
                            table (its key and the columns the ETL read), and the users /
                            items tables derived from already-joined logs if the config asks
                            (derived_tables.py)
    inputs.json             what serving needs about the inputs: the config, each raw
                            column's type, the tables above (inputs.py); export reads these,
                            never the raw logs, which may be moved once the ETL is done
    summary.json            rows in/out per split, what was dropped and why, cardinalities,
                            unseen/null shares, the oracle AUC where the logs carry it

Everything is written into a temporary sibling folder that is renamed into place at the
end: a failed run leaves no half-written output, and an existing output is replaced only
with --overwrite, and only after the new one is complete.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from shoprank._output import output_folder
from shoprank.etl.cluster import choose_device, dask_cluster
from shoprank.etl.config import P_CLICK, TABLES_FOLDER, load_config
from shoprank.etl.derived_tables import write_derived_tables
from shoprank.etl.privacy import release_statistics
from shoprank.etl.pseudonyms import with_key
from shoprank.etl.realtime import add_to_staged as add_realtime_columns
from shoprank.etl.inputs import write_inputs
from shoprank.etl.out_of_fold import out_of_fold_workflow, rate_scaler, with_out_of_fold_rates
from shoprank.etl.reading import find_files, list_column_types
from shoprank.etl.split import read_and_split
from shoprank.etl.summary import categorical_columns, output_rows, split_summary
from shoprank.etl.workflow import CTR_SMOOTHING, build_workflow


def run_etl(config_path, out_dir, *, device: str = "auto", workers: int | None = None,
            scheduler: str | None = None, overwrite: bool = False, progress: bool = True,
            key_file=None, say=print) -> dict:
    """key_file: the key of the personal columns' pseudonyms (etl/pseudonyms.py), read here
    and never written."""
    start = time.perf_counter()
    config = with_key(load_config(config_path), key_file)
    cpu = choose_device(device)
    with output_folder(out_dir, overwrite=overwrite) as tmp:
        with dask_cluster(workers=workers, scheduler=scheduler, cpu=cpu, say=say):
            summary = _run(config, config_path, tmp, cpu=cpu, progress=progress, say=say)
        summary.update(device="cpu" if cpu else "gpu", workers=workers, scheduler=scheduler,
                       config=str(Path(config_path).resolve()), seconds=round(time.perf_counter() - start, 2))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["out"] = str(out_dir)
    return summary


def _run(config, config_path, tmp: Path, *, cpu: bool, progress: bool, say) -> dict:
    files = find_files(config)
    say(f"reading {len(files)} {config.format} file(s) from {config.root}")
    splits, windows, rows_read, dropped = read_and_split(config)
    workflow = build_workflow(config, tmp / "stats", cpu=cpu)
    rates = (out_of_fold_workflow(config, tmp / "stats", smoothing=CTR_SMOOTHING)
             if config.ctr_statistics else None)
    stages = _progress(["join and split", "fit on train",
                        *[f"transform {name}" for name in splits]], progress)

    # The joined, checked logs of each split are staged as Parquet once: every later pass
    # (fit, transform, counting) reads plain files instead of re-running the join.
    staged = {name: tmp / "staged" / name for name in splits}
    list_types = list_column_types(config, files)
    rows_in, derived, released = {}, {}, None
    for stage in stages:
        if stage == "join and split":
            for name, part in splits.items():
                part.to_parquet(str(staged[name]), write_index=False, schema=list_types)
                drop_empty_files(staged[name])  # some NVTabular ops fail on empty parts
                rows_in[name] = output_rows(staged[name])
                if rows_in[name] == 0:
                    raise ValueError(
                        f"the {name} split is empty: " + (
                            f"its files ({config.split_files[name]}) hold no rows"
                            if config.split_files else
                            f"the logs span too short a time for split fractions "
                            f"valid={config.valid_fraction}, test={config.test_fraction}"))
            if config.realtime:
                add_realtime_columns(config, [staged[name] for name in splits])
            derived = write_derived_tables(config, [staged[name] for name in splits],
                                           tmp / TABLES_FOLDER, list_types)
            write_inputs(config, config_path, tmp, files)  # after the derived tables: it lists them
        elif stage == "fit on train":
            workflow.fit(_dataset(staged["train"], cpu))
            if config.privacy and config.privacy.releases_statistics:
                # before any split is transformed: the exact figures go
                released = release_statistics(workflow, config.privacy)
            if rates is not None:
                rates.fit(_dataset(staged["train"], cpu))
        else:
            name = stage.split()[-1]
            output = workflow.transform(_dataset(staged[name], cpu))
            if name == "train" and rates is not None:
                output = _train_rates_out_of_fold(output, workflow, rates,
                                                  _dataset(staged[name], cpu), cpu)
            output.to_parquet(str(tmp / name), shuffle=None, out_files_per_proc=None)
    workflow.save(str(tmp / "workflow"))
    for scratch in ("stats", "staged"):  # the statistics are saved with the workflow
        shutil.rmtree(tmp / scratch, ignore_errors=True)

    schema = workflow.output_schema
    p_click = P_CLICK if P_CLICK in schema.column_names else None
    per_split = {}
    for name in splits:
        per_split[name] = {"window": windows[name], "rows_in": rows_in[name],
                           **split_summary(tmp / name, schema, label=config.label,
                                           p_click=p_click, hashed=set(config.hashed))}
        per_split[name]["rows_out"] = per_split[name].pop("rows")
        if per_split[name]["rows_out"] != rows_in[name]:
            raise RuntimeError(f"{name}: {rows_in[name]} rows in but "
                               f"{per_split[name]['rows_out']} written")
        say(f"  {name:<5} {rows_in[name]:>10,} rows  {windows[name][0]} .. {windows[name][1]}"
            + (f"  oracle AUC {per_split[name]['oracle_auc']:.4f}"
               if "oracle_auc" in per_split[name] else ""))
    for name, rows in derived.items():
        say(f"  derived the {name} table from the logs: {rows:,} rows")
    for name, figures in (released or {}).items():
        say(f"  {name} statistics released with Laplace noise (scale {figures['scale']:.3g}):"
            f" {figures['values']:,} values, {figures['dropped']:,} below min_count dropped")
    return {"rows_read": rows_read, "dropped": dropped, "splits": per_split,
            "derived_tables": derived, "privacy": released,
            "cardinalities": categorical_columns(schema),
            "output_columns": list(schema.column_names)}


def _train_rates_out_of_fold(output, workflow, rates, train, cpu: bool):
    """The train split's features with its click-through rates out of fold
    (out_of_fold.py: the served ones hold each train row's own label)."""
    from merlin.io import Dataset

    columns = list(rates.output_schema.column_names)
    features = with_out_of_fold_rates(output.to_ddf(), rates.transform(train).to_ddf(),
                                      rate_scaler(workflow, columns), columns)
    return Dataset(features, schema=output.schema, cpu=cpu)


def drop_empty_files(folder: Path) -> None:
    import pyarrow.parquet as pq

    for path in folder.glob("*.parquet"):
        if pq.ParquetFile(path).metadata.num_rows == 0:
            path.unlink()


def _dataset(folder: Path, cpu: bool):
    from merlin.io import Dataset

    return Dataset(sorted(str(f) for f in folder.glob("*.parquet")), engine="parquet", cpu=cpu)


def _progress(stages: list[str], enabled: bool):
    """The stages, as a progress bar naming the current one when enabled."""
    if not enabled:
        return stages
    from tqdm import tqdm

    return _named_stages(tqdm(stages, desc="etl", unit="stage"))


def _named_stages(bar):
    for stage in bar:
        bar.set_postfix_str(stage)
        yield stage
