"""The Triton model repository of an exported ranker (``shoprank export-triton``).

    REPO/transform/config.pbtxt, 1/model.py, 1/artifacts/   raw columns -> model features
    REPO/score/...                                          model features -> scores
    REPO/select/...                                         scores, k -> item ids, scores
    REPO/ensemble/config.pbtxt, 1/                          transform -> score -> select
    REPO/ranker/config.pbtxt, 1/artifacts/                  the three in one call, in
                                                            the shoprank C++ backend
  and, for artifacts exported with a retrieval model (shoprank export --retrieval), the
  recommendation chain, every step in the shoprank backend:
    REPO/retrieve/...           the request (user id, exclude, k) -> candidate_items + ids
    REPO/score_candidates/...   the request's columns + the candidates' ids -> scores
    REPO/rerank/...             candidates, scores, k, diversity knobs -> item_ids, scores
    REPO/recommend/             retrieve -> score_candidates -> rerank
  and, with an event log (export-triton --events DIR), the Python-backend model
    REPO/events/...             impressions / clicks / purchases -> DIR (shoprank/events)
  and for artifacts with real-time features (a logs config's "realtime") also
    REPO/observe/...            events -> the real-time state of the shoprank backend, which
                                its models share; `events` hands it every event it logged
  (the Python-backend ensemble's transform step keeps no such state: it is not written
  then, and `ranker` / `recommend` serve the model)

Every config is generated here from the artifacts (their raw inputs and model features);
each version folder carries its own copy of the artifacts (hard links where the file
system allows), so a new version can be added beside a running one and loaded in its place.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from shoprank.serving import wire

STEPS = ("transform", "score", "select", "ranker", "ensemble")
RECOMMEND_STEPS = ("retrieve", "score_candidates", "rerank", "recommend")
# The Python-backend models (serving/triton_models.py); `ranker` runs in the shoprank
# backend instead (csrc/triton: the engine inside the server's process, no stub).
_MODEL_CLASS = {"transform": "TransformStep", "score": "ScoreStep", "select": "SelectStep",
                "baseline": "BaselineModel", "events": "EventsStep"}


@dataclass(frozen=True)
class ServingOptions:
    max_batch_size: int = 16            # queries per batch the dynamic batcher forms
    # how long it waits to fill a batch: 0 batches what queued while the model was busy and
    # adds nothing to a lone request (100 us added ~0.15 ms to the ranker's p50 at c=1)
    max_queue_delay_us: int = 0
    dynamic_batching: bool = True
    instances: int = 1                  # model instances per step (Python: stub processes)
    threads: int = 1                    # engine CPU threads per instance (0: all cores)
    max_candidates: int = 100_000       # candidates per request; more is an error
    candidates: int = 500               # recommend: retrieved and ranked unless a request says

    def check(self) -> None:
        for name in ("max_batch_size", "instances", "max_candidates", "candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.candidates > self.max_candidates:
            raise ValueError(f"candidates ({self.candidates}) must be <= max_candidates "
                             f"({self.max_candidates})")
        for name in ("max_queue_delay_us", "threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


OPTIONS_FILE = "shoprank-repository.json"  # a file: Triton takes only folders for models


def read_options(repo) -> ServingOptions:
    """The options the repository was last written with (defaults for one written before
    they were recorded)."""
    path = Path(repo) / OPTIONS_FILE
    if not path.is_file():
        return ServingOptions()
    return ServingOptions(**json.loads(path.read_text())["options"])


def export_triton(artifacts, repo, options: ServingOptions = ServingOptions(), *,
                  version: int = 1, overwrite: bool = False, baseline=None,
                  events=None, max_lateness_s: float = 3600.0) -> dict:
    """Writes the repository for the artifacts ``shoprank export`` wrote. With an existing
    repository and a new ``version``, adds that version to every model instead (the configs
    are rewritten; Triton serves the newest version once the models are reloaded).

    baseline: a trained model folder (shoprank train --out): adds the ``baseline`` model, the
    Merlin path served the way a Merlin user would (NVTabular + TensorFlow in the model;
    needs the full install where the server runs), for benchmarks.

    events: a folder for the event log (created, for the impressions of the ETL output the
    model was trained on, or reused): adds the ``events`` model writing to it."""
    import shoprank
    from shoprank._output import output_folder

    options.check()
    if version < 1:
        raise ValueError(f"version must be >= 1, got {version}")
    artifacts, repo = Path(artifacts), Path(repo)
    # checks the artifacts before anything is written (the pseudonyms' key is the server's)
    ranker = shoprank.Ranker.load(artifacts, key_required=False)
    recommender = (shoprank.Recommender.load(artifacts, key_required=False)
                   if _has_retrieval(artifacts) else None)
    _check_names(ranker, recommender)
    if baseline is not None:
        from shoprank.models.folders import model_folder

        baseline = model_folder(baseline).resolve()
    adding = repo.exists() and (repo / "ranker").is_dir() and not overwrite
    if adding:
        taken = [m for m in STEPS + RECOMMEND_STEPS + ("baseline", "events", "observe")
                 if (repo / m / str(version)).exists()]
        if taken:
            raise FileExistsError(f"{repo}: version {version} exists already for {taken} "
                                  f"(choose another --version, or --overwrite the repository)")
    if events is not None:  # after the checks: a refused export creates no log
        events = _event_log(artifacts, events)
    elif adding:  # a new version logs where the others do
        events = event_log_of(repo)
    observed = bool(events) and ranker.realtime is not None
    steps = ["ranker"] if observed else list(STEPS)

    def write(into: Path) -> None:
        _write_models(into, ranker, artifacts, options, version, baseline, steps)
        if recommender:
            _write_recommend(into, recommender, artifacts, options, version)
        observe = _observed_columns(ranker, events) if observed else None
        if events:
            _write_events(into, events, options, version, max_lateness_s, observe)
        if observed:
            _write_observe(into, artifacts, observe, options, version)

    if adding:
        write(repo)
    else:
        with output_folder(repo, overwrite=overwrite) as tmp:
            write(tmp)
    (repo / OPTIONS_FILE).write_text(json.dumps({"options": options.__dict__}, indent=1) + "\n")
    models = steps + (["baseline"] if baseline else []) + \
        (list(RECOMMEND_STEPS) if recommender else []) + (["events"] if events else []) + \
        (["observe"] if observed else [])
    return {"repo": str(repo), "version": version, "models": models,
            "architecture": ranker.architecture, "options": options.__dict__}


def _event_log(artifacts: Path, folder) -> Path:
    """The event log for the ETL output the artifacts came from (created or reused)."""
    from shoprank.events.log import EventLog

    etl = Path(json.loads((artifacts / "ranker.json").read_text())["source"]["etl"])
    if not (etl / "inputs.json").is_file():
        raise FileNotFoundError(f"{etl}: the ETL output the model was trained on is needed "
                                "for --events (its columns and side tables)")
    return EventLog.create(folder, etl).folder.resolve()


def config_parameter(repo, model: str, key: str) -> str | None:
    """A parameter of a written model config (_parameters_text's layout), or None."""
    import re

    config = Path(repo) / model / "config.pbtxt"
    if not config.is_file():
        return None
    found = re.search(rf'key: "{key}" value \{{ string_value: "([^"]*)" \}}', config.read_text())
    return found.group(1) if found else None


def event_log_of(repo) -> Path | None:
    """The event log an existing repository's events model writes to, or None."""
    folder = config_parameter(repo, "events", "events_dir")
    return Path(folder) if folder else None


def _write_events(repo: Path, events: Path, options: ServingOptions, version: int,
                  max_lateness_s: float, observe: dict | None) -> None:
    """observe: the real-time state's columns and types (the events model hands them on to
    the observe model), or None."""
    from shoprank.events.log import EventLog

    schema = EventLog(events).schema
    inputs = [_tensor(name, kind, optional=True)
              for name, kind, _ in wire.input_tensors(schema.columns)]
    (repo / "events" / str(version)).mkdir(parents=True)
    _python_model(repo / "events" / str(version), "events")
    parameters = {"events_dir": events, "max_lateness_s": max_lateness_s,
                  "max_candidates": options.max_candidates,
                  "event_columns": wire.describe_inputs(schema.columns)}
    if observe:
        parameters.update(observe_model="observe", observed_columns=wire.describe_inputs(observe))
    one_writer = ServingOptions(**{**options.__dict__, "instances": 1})  # the log's one writer
    (repo / "events" / "config.pbtxt").write_text(_model_config(
        "events", inputs, [_tensor(wire.ACCEPTED, "INT64", dims=1)], one_writer, parameters))


def _observed_columns(ranker, events: Path) -> dict[str, str]:
    """{column: type} of what the real-time state reads from each event."""
    from shoprank.events.log import EventLog

    spec, logged = ranker.realtime, EventLog(events).schema.columns
    label = logged.get(spec["label"], "int64")
    if label not in ("int64", "float64"):
        raise ValueError(f"the event log's label {spec['label']!r} is {label}: real-time "
                         "features need int64 or float64 labels")
    return {spec["user"]: ranker.inputs[spec["user"]], spec["item"]: ranker.inputs[spec["item"]],
            spec["timestamp"]: "timestamp_ms", spec["label"]: label}


def _write_observe(repo: Path, artifacts: Path, kinds: dict, options: ServingOptions,
                   version: int) -> None:
    """The shoprank-backend step taking events into the server's real-time state."""
    inputs = [_tensor(name, kind) for name, kind, _ in wire.input_tensors(kinds)]
    (repo / "observe" / str(version)).mkdir(parents=True)
    _link_tree(artifacts, repo / "observe" / str(version) / "artifacts")
    (repo / "observe" / "config.pbtxt").write_text(_model_config(
        "observe", inputs, [_tensor(wire.OBSERVED, "INT64", dims=1)], options,
        {"step": "observe", "max_candidates": options.max_candidates}))


def _has_retrieval(artifacts: Path) -> bool:
    return "retrieval" in json.loads((artifacts / "ranker.json").read_text())


def _check_names(ranker, recommender) -> None:
    reserved = {wire.K, wire.ITEM_IDS, wire.SCORES, wire.CANDIDATE_SCORES}
    if recommender:  # the recommendation request's own tensors
        reserved |= {wire.EXCLUDE, wire.CANDIDATES, wire.RELEVANCE_WEIGHT, wire.CANDIDATE_ITEMS}
    clash = sorted(reserved & set(ranker.inputs))
    clash += sorted(n for n in ranker.inputs if n.endswith(wire.LENGTHS) or
                    n.startswith(wire.FEATURE) or (recommender and n.startswith(wire.MAX_PER)))
    if clash:
        raise ValueError(f"raw column name(s) {clash} clash with the request's own tensors "
                         f"({sorted(reserved)}, *{wire.LENGTHS}, {wire.FEATURE}*"
                         + (f", {wire.MAX_PER}*)" if recommender else ")"))
    odd = sorted(n for n in ranker.inputs if set(n) & set(',:"\\'))
    if odd:
        raise ValueError(f"raw column name(s) {odd}: a served column's name may not hold "
                         f"',', ':', '\"' or a backslash")


def _write_models(repo: Path, ranker, artifacts: Path, options: ServingOptions,
                  version: int, baseline: Path | None, steps) -> None:
    """Each model's version folder first, its config last: a config names a complete model.
    steps: those of STEPS to write."""
    request, described = _request_inputs(ranker), _described(ranker)
    # the answer names candidates by the item key, in its type (rows where there is none)
    ids_type = wire.TRITON_TYPES[ranker.inputs[ranker.item_key]] if ranker.item_key else "INT64"
    answer = [_tensor(wire.ITEM_IDS, ids_type), _tensor(wire.SCORES, "FP32")]
    features = _feature_tensors(ranker)
    selected = [_tensor(wire.CANDIDATE_SCORES, "FP32"), _tensor(wire.K, "INT64", dims=1,
                                                                 optional=True)]
    if ranker.item_key:
        selected.append(_tensor(ranker.item_key, ids_type, optional=True))
    # Triton's ensemble does not check its required inputs (a missing one stalls the
    # pipeline: "unexpected deadlock"), so there every input is optional and the steps
    # name what is missing.
    anything = [{**t, "optional": True} for t in request]
    k_optional = _tensor(wire.K, "INT64", dims=1, optional=True)
    models = {
        "transform": (anything, features),
        "score": (features, [_tensor(wire.CANDIDATE_SCORES, "FP32")]),
        "select": (selected, answer),
        "ranker": (request + [_tensor(wire.K, "INT64", dims=1)], answer),
    }
    if baseline is not None:
        models["baseline"] = models["ranker"]
    models = {name: value for name, value in models.items() if name in steps or name == "baseline"}
    for name, (inputs, outputs) in models.items():
        folder = repo / name / str(version)
        folder.mkdir(parents=True)
        if name in _MODEL_CLASS:
            _python_model(folder, name)
        if name not in ("select", "baseline"):
            _link_tree(artifacts, folder / "artifacts")
        parameters = {"threads": options.threads, "max_candidates": options.max_candidates,
                      **described}
        if name == "baseline":
            parameters["model_dir"] = baseline
        (repo / name / "config.pbtxt").write_text(
            _model_config(name, inputs, outputs, options, parameters))
    if "ensemble" not in steps:
        return
    (repo / "ensemble" / str(version)).mkdir(parents=True)
    (repo / "ensemble" / "config.pbtxt").write_text(
        _ensemble_config(anything + [k_optional], answer, features,
                         ranker.item_key, options) + _parameters_text(described))


def _write_recommend(repo: Path, recommender, artifacts: Path, options: ServingOptions,
                     version: int) -> None:
    """The recommendation chain's three steps (the shoprank backend, each with its own copy
    of the artifacts) and the `recommend` ensemble over them."""
    ids_type = wire.TRITON_TYPES[recommender.item_key_type]
    item_key = recommender.item_key
    request = [_tensor(name, kind, optional=True)
               for name, kind, _ in wire.input_tensors(recommender.inputs, nulls=True)]
    one = dict(dims=1, optional=True)
    k = _tensor(wire.K, "INT64", **one)
    exclude = _tensor(wire.EXCLUDE, ids_type, optional=True)
    candidates = _tensor(wire.CANDIDATES, "INT64", **one)
    knobs = [_tensor(wire.RELEVANCE_WEIGHT, "FP32", **one)] + [
        _tensor(wire.MAX_PER + column, "INT64", **one) for column in recommender.label_columns]
    items, ids = _tensor(wire.CANDIDATE_ITEMS, "INT64"), _tensor(item_key, ids_type)
    scores = _tensor(wire.CANDIDATE_SCORES, "FP32")
    answer = [_tensor(wire.ITEM_IDS, ids_type), _tensor(wire.SCORES, "FP32")]
    user = [t for t in request if t["name"] == recommender.user_key]
    models = {  # the steps' inputs are optional too: each names what is missing
        "retrieve": (user + [exclude, k, candidates], [items, ids]),
        "score_candidates": (request + [{**ids, "optional": True}], [scores]),
        "rerank": ([items, scores, k] + knobs, answer),
    }
    parameters = {"threads": options.threads, "max_candidates": options.max_candidates,
                  "candidates": options.candidates}
    for name, (inputs, outputs) in models.items():
        folder = repo / name / str(version)
        folder.mkdir(parents=True)
        _link_tree(artifacts, folder / "artifacts")
        (repo / name / "config.pbtxt").write_text(_model_config(
            name, inputs, outputs, options, {"step": name, **parameters}))
    names = {step: [t["name"] for t in ins] for step, (ins, _) in models.items()}
    chain = [(step, names[step], [t["name"] for t in models[step][1]]) for step in models]
    described = {"request_inputs": wire.describe_inputs(recommender.inputs),
                 "user_key": recommender.user_key, "item_key": item_key,
                 "item_key_type": recommender.item_key_type,
                 "labels": ",".join(recommender.label_columns), **parameters}
    (repo / "recommend" / str(version)).mkdir(parents=True)
    (repo / "recommend" / "config.pbtxt").write_text(
        _chain_config("recommend", request + [exclude, k, candidates] + knobs, answer,
                      options, chain) + _parameters_text(described))


def _python_model(folder: Path, name: str) -> None:
    """The model.py of a Python-backend model: one of serving/triton_models.py's classes."""
    (folder / "model.py").write_text(
        f"# Generated by shoprank export-triton: the {name!r} model.\n"
        f"from shoprank.serving.triton_models import {_MODEL_CLASS[name]} as "
        f"TritonPythonModel  # noqa: F401\n")


def _described(ranker) -> dict:
    """What a client needs to build requests: the raw columns' types and the item key."""
    return {"raw_inputs": wire.describe_inputs(ranker.inputs), "item_key": ranker.item_key or ""}


def _request_inputs(ranker) -> list[dict]:
    """Raw columns a side table or the real-time state supplies are optional, and a
    real-time model's timestamp (the engine takes the server's clock, as in process; it
    names the column missing where a feature needs it); the rest are required."""
    realtime = ranker.realtime
    supplied = set(ranker.tables) | set(realtime["columns"] if realtime else ()) \
        | ({realtime["timestamp"]} if realtime else set())
    return [_tensor(name, kind, optional=column in supplied or name.endswith(wire.NULL_ROWS))
            for name, kind, column in wire.input_tensors(ranker.inputs, nulls=True)]


def _feature_tensors(ranker) -> list[dict]:
    probe = ranker.transform({name: [] for name in ranker.inputs if name not in ranker.tables})
    out = []
    for name, value in probe.items():
        if isinstance(value, tuple):
            out += [_tensor(wire.FEATURE + name, "INT32"),
                    _tensor(wire.FEATURE + name + wire.OFFSETS, "INT64")]
        else:
            out.append(_tensor(wire.FEATURE + name, "FP32" if value.dtype.kind == "f" else "INT32"))
    return out


def _tensor(name: str, dtype: str, *, optional: bool = False, dims: int = -1) -> dict:
    return {"name": name, "dtype": dtype, "optional": optional, "dims": dims}


def _tensor_text(t: dict, *, is_input: bool) -> str:
    fields = [f'name: "{t["name"]}"', f"data_type: TYPE_{_config_type(t['dtype'])}",
              f"dims: [ {t['dims']} ]"]
    if is_input and t["dims"] == -1:
        fields.append("allow_ragged_batch: true")  # requests of different lengths batch
    if is_input and t["optional"]:
        fields.append("optional: true")
    return "  { " + " ".join(fields) + " }"


def _config_type(dtype: str) -> str:
    return "STRING" if dtype == "BYTES" else dtype


def _io_text(inputs, outputs) -> str:
    return ("input [\n" + ",\n".join(_tensor_text(t, is_input=True) for t in inputs) + "\n]\n"
            "output [\n" + ",\n".join(_tensor_text(t, is_input=False) for t in outputs) + "\n]\n")


def _model_config(name, inputs, outputs, options: ServingOptions, parameters: dict) -> str:
    backend = "python" if name in _MODEL_CLASS else "shoprank"
    text = (f'# Generated by shoprank export-triton; regenerate it rather than edit it.\n'
            f'name: "{name}"\nbackend: "{backend}"\nmax_batch_size: {options.max_batch_size}\n'
            + _io_text(inputs, outputs))
    if options.dynamic_batching:
        text += (f"dynamic_batching {{ max_queue_delay_microseconds: "
                 f"{options.max_queue_delay_us} }}\n")
    text += f"instance_group [ {{ count: {options.instances} kind: KIND_CPU }} ]\n"
    return text + _parameters_text(parameters)


def _parameters_text(parameters: dict) -> str:
    return "".join(f'parameters {{ key: "{key}" value {{ string_value: "{value}" }} }}\n'
                   for key, value in parameters.items())


def _ensemble_config(inputs, outputs, features, item_key, options: ServingOptions) -> str:
    raw = [t["name"] for t in inputs if t["name"] != wire.K]
    feature_names = [t["name"] for t in features]
    select_in = [wire.CANDIDATE_SCORES, wire.K] + ([item_key] if item_key else [])
    return _chain_config("ensemble", inputs, outputs, options, [
        ("transform", raw, feature_names),
        ("score", feature_names, [wire.CANDIDATE_SCORES]),
        ("select", select_in, [wire.ITEM_IDS, wire.SCORES])])


def _chain_config(name, inputs, outputs, options: ServingOptions, steps) -> str:
    """An ensemble of steps (model, input names, output names); the tensors keep their names."""
    def step(model, ins, outs):
        maps = "".join(f'      input_map {{ key: "{n}" value: "{n}" }}\n' for n in ins)
        maps += "".join(f'      output_map {{ key: "{n}" value: "{n}" }}\n' for n in outs)
        return f'    {{\n      model_name: "{model}"\n      model_version: -1\n{maps}    }}'

    return (f'# Generated by shoprank export-triton; regenerate it rather than edit it.\n'
            f'name: "{name}"\nplatform: "ensemble"\nmax_batch_size: {options.max_batch_size}\n'
            + _io_text(inputs, outputs)
            + "ensemble_scheduling {\n  step [\n" + ",\n".join(step(*s) for s in steps)
            + "\n  ]\n}\n")


def _link_tree(source: Path, target: Path) -> None:
    """A copy of the artifact folder, hard-linked file by file where possible."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)
