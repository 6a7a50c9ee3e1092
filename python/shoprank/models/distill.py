"""``distill``: a smaller model trained to copy a trained one (knowledge distillation).

The student (the teacher's architecture with narrower MLPs and embeddings, dim 8 by
default) trains on the teacher's ETL output with each train row's label replaced by a soft
one, ``alpha * click + (1 - alpha) * teacher's probability``; binary cross-entropy on soft
labels pulls it towards the teacher's scores, which carry more than the 0/1 clicks. Early
stopping and every evaluation use the real clicks (valid and test are the teacher's own).

The student goes to OUT/student/ (as `train --out` writes it). The soft labels live in
OUT/soft-labels/, an ETL output folder whose train/ split is
rewritten (the label column, float32) and whose other parts (valid/, test/, workflow/,
tables/, inputs.json, summary.json) are links to the teacher's: the student's model folder
names it as its data, so export and serving read the same transform as the teacher's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from shoprank.models.build import ModelSpec
from shoprank.models.data import SOFT_LABELS_FILE, load_processed

LINKED = ("valid", "test", "workflow", "tables", "inputs.json", "summary.json")


def distill(teacher_dir, out_dir, *, spec: ModelSpec | None = None, alpha: float = 0.5,
            epochs: int = 4, batch_size: int = 2048, learning_rate: float = 2e-3,
            seed: int = 0, overwrite: bool = False, progress: bool = True, say=print) -> dict:
    """Trains the student into OUT/student (as train does: model/, history.json) beside
    OUT/soft-labels; returns train's record with the teacher's and the student's test
    figures."""
    from shoprank.models.evaluate import evaluate
    from shoprank.models.folders import etl_folder, model_folder
    from shoprank.models.train import train

    if not 0 <= alpha <= 1:
        raise ValueError(f"--alpha must be in [0, 1], got {alpha}")
    teacher = model_folder(teacher_dir)
    etl_dir = etl_folder(teacher)
    taught = json.loads((teacher / "model.json").read_text())
    spec = spec or student_spec(taught["spec"])
    if spec.linear:
        raise ValueError("a student cannot have a linear part: its fit needs 0/1 labels")
    spec.check()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty: --overwrite to distil into it again")
    shutil.rmtree(out, ignore_errors=True)
    soft = out / "soft-labels"
    say(f"teacher {teacher}: scoring its {etl_dir.name} train split")
    teacher_test = write_soft_labels(teacher, etl_dir, soft, alpha)
    record = train(soft, out / "student", spec=spec, epochs=epochs, batch_size=batch_size,
                   learning_rate=learning_rate, seed=seed, progress=progress, say=say,
                   record={"distilled_from": str(teacher.resolve()), "alpha": alpha})
    student_test = evaluate(model_folder(out / "student"), soft)
    record.update(teacher_test=teacher_test, student_test=student_test)
    (out / "student" / "history.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    say(f"test AUC: teacher {teacher_test['auc']:.4f}, student {student_test['auc']:.4f}")
    return record


def student_spec(teacher: dict) -> ModelSpec:
    """The default student of a teacher's spec (model.json "spec"): its architecture,
    tables, pooling and cross layers; dim 8, MLPs a quarter of the default widths, no
    linear part, no dropout."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(ModelSpec)}
    kept = {k: v for k, v in teacher.items() if k in known}
    return dataclasses.replace(ModelSpec(**kept), embedding_dim=8, bottom_mlp=(16, 8),
                               top_mlp=(32, 16), linear=False, dropout=0.0)


def write_soft_labels(teacher: Path, etl_dir: Path, soft: Path, alpha: float) -> dict:
    """soft/: the ETL output with train labels blended with the teacher's probabilities;
    returns the teacher's test figures."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from merlin.schema.io.tensorflow_metadata import TensorflowMetadata
    import merlin.dtypes as md

    from shoprank.metrics import auc
    from shoprank.models.evaluate import evaluate, predict
    from shoprank.models.folders import load_keras_model

    data = load_processed(etl_dir)
    model = load_keras_model(teacher)
    scores = predict(model, data, "train")
    labels = data.column("train", data.label)
    if scores.shape != labels.shape:
        raise RuntimeError(f"the teacher scored {scores.size} train rows of {labels.size}")
    if auc(labels, scores) <= 0.5:  # rows and scores out of step, or a useless teacher
        raise ValueError(f"the teacher's train AUC is {auc(labels, scores):.3f}: nothing to "
                         "learn from it")
    (soft / "train").mkdir(parents=True)
    start = 0
    for path in data.files("train"):
        table = pq.read_table(path)
        clicks = table[data.label].to_numpy().astype(np.float32)
        blended = alpha * clicks + (1 - alpha) * scores[start:start + len(clicks)]
        start += len(clicks)
        index = table.schema.get_field_index(data.label)
        table = table.set_column(index, pa.field(data.label, pa.float32()),
                                 pa.array(blended.astype(np.float32)))
        pq.write_table(table, soft / "train" / Path(path).name)
    schema = TensorflowMetadata.from_proto_text_file(str(etl_dir / "train")).to_merlin_schema()
    schema[data.label] = schema[data.label].with_dtype(md.float32)
    TensorflowMetadata.from_merlin_schema(schema).to_proto_text_file(str(soft / "train"))
    for name in LINKED:
        if (etl_dir / name).exists():
            (soft / name).symlink_to((etl_dir / name).resolve())
    (soft / SOFT_LABELS_FILE).write_text(json.dumps(
        {"teacher": str(teacher.resolve()), "alpha": alpha, "etl": str(etl_dir.resolve())},
        indent=1) + "\n")
    return evaluate(teacher, etl_dir, model=model)
