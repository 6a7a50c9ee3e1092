"""The Python-backend models of the Triton repository (shoprank export-triton writes a
model.py that names one of these as TritonPythonModel).

  transform   raw request columns -> model features      (Ranker.transform)
  score       model features      -> candidate_scores    (Ranker.forward)
  select      candidate_scores, k -> item_ids, scores    (shoprank.topk)
  baseline    the Python path, for benchmarks: NVTabular Workflow + TensorFlow + argpartition
              (ReferenceRanker: needs the full install, and the trained model folder)

The one-call `ranker` model is not here: it runs in the shoprank C++ backend
(csrc/triton), inside the server's process, and reads the same layout.

Each request is answered on its own: a bad one gets an error response naming what was
wrong, and the other requests of the same batch are answered as usual. The tensor layout
is python/shoprank/serving/wire.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shoprank.serving import wire


class _Step:
    """Loads the version folder's artifacts; answers every request of a batch separately."""

    needs_ranker = True

    def initialize(self, args):
        import triton_python_backend_utils as pb_utils

        self._pb = pb_utils
        config = json.loads(args["model_config"])
        self.name = config["name"]
        self.parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.threads = int(self.parameters.get("threads", "0"))
        self.max_candidates = int(self.parameters.get("max_candidates", "0"))
        self.item_key = self.parameters.get("item_key") or None
        self.input_names = [i["name"] for i in config["input"]]
        if self.needs_ranker:
            import shoprank

            folder = Path(args["model_repository"]) / args["model_version"] / "artifacts"
            self.ranker = shoprank.Ranker.load(folder)

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                tensors = {}
                for name in self.input_names:
                    tensor = self._pb.get_input_tensor_by_name(request, name)
                    if tensor is not None:
                        tensors[name] = tensor.as_numpy()
                outputs = self.run(tensors)
                responses.append(self._pb.InferenceResponse(
                    output_tensors=[self._pb.Tensor(n, v) for n, v in outputs.items()]))
            except Exception as error:  # the request's fault or not, it gets the reason
                responses.append(self._pb.InferenceResponse(error=self._error(error)))
        return responses

    def _error(self, error: Exception):
        """Bad input (ValueError, TypeError) is the client's: INVALID_ARG; the rest INTERNAL."""
        message = f"{self.name}: {type(error).__name__}: {error}"
        codes = self._pb.TritonError
        code = codes.INVALID_ARG if isinstance(error, (ValueError, TypeError)) else codes.INTERNAL
        return codes(message, code)

    def finalize(self):
        self.ranker = None

    def run(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def answer(self, tensors, rows, scores, candidates: int) -> dict[str, np.ndarray]:
        """item_ids: the candidates' ids where the request sent one per candidate, else
        their row numbers."""
        ids = tensors.get(self.item_key) if self.item_key else None
        if ids is not None and ids.shape[-1] == candidates:
            rows = ids[0][rows]
        return {wire.ITEM_IDS: np.asarray(rows, np.int64)[None, :],
                wire.SCORES: np.asarray(scores, np.float32)[None, :]}

    def raw_columns(self, tensors) -> tuple[dict, int]:
        """(raw columns, candidates: the longest column's length)"""
        raw = wire.decode_columns(self.ranker.inputs, tensors)
        rows = max((len(v) for v in raw.values()), default=0)
        if self.max_candidates and rows > self.max_candidates:
            raise ValueError(f"{rows} candidates in one request; this model takes at most "
                             f"{self.max_candidates} (export-triton --max-candidates)")
        return raw, rows


class TransformStep(_Step):
    def run(self, tensors):
        features = self.ranker.transform(self.raw_columns(tensors)[0])
        out = {}
        for name, value in features.items():
            if isinstance(value, tuple):  # a list feature: (ids, offsets)
                out[wire.FEATURE + name] = value[0][None, :]
                out[wire.FEATURE + name + wire.OFFSETS] = value[1][None, :]
            else:
                out[wire.FEATURE + name] = value[None, :]
        return out


class ScoreStep(_Step):
    def run(self, tensors):
        features = {}
        for name in self.ranker.feature_names:
            tensor = tensors.get(wire.FEATURE + name)
            if tensor is None:
                raise ValueError(f"missing input {wire.FEATURE + name}")
            offsets = tensors.get(wire.FEATURE + name + wire.OFFSETS)
            value = wire.one_query(wire.FEATURE + name, tensor)
            features[name] = value if offsets is None else (value, wire.one_query(name, offsets))
        scores = self.ranker.forward(features, threads=self.threads)
        return {wire.CANDIDATE_SCORES: scores[None, :]}


class SelectStep(_Step):
    needs_ranker = False

    def run(self, tensors):
        from shoprank import topk

        scores = wire.one_query(wire.CANDIDATE_SCORES, tensors[wire.CANDIDATE_SCORES])
        k = _k(tensors, len(scores))
        values, rows = topk(scores[None, :].astype(np.float32, copy=False), k, num_threads=1)
        return self.answer(tensors, rows[0], values[0], len(scores))


def _k(tensors, candidates: int) -> int:
    if wire.K not in tensors:
        raise ValueError("missing input k (how many items to return)")
    k = wire.one_query(wire.K, tensors[wire.K])
    if k.size != 1:
        raise ValueError(f"k: expected one value, got {k.size}")
    k = int(k[0])
    if candidates == 0:
        raise ValueError("no candidates to rank")
    if not 1 <= k <= candidates:
        raise ValueError(f"k must be between 1 and the number of candidates ({candidates}), "
                         f"got {k}")
    return k




class BaselineModel(_Step):
    """The way a Merlin user would serve the model: the saved NVTabular Workflow on a
    DataFrame, then TensorFlow, then argpartition. The trained model folder (and the ETL
    output it names) is read in place: the model_dir parameter."""

    needs_ranker = False

    def initialize(self, args):
        super().initialize(args)
        from shoprank.ranker.reference import ReferenceRanker

        self.reference = ReferenceRanker(self.parameters["model_dir"])

    def run(self, tensors):
        raw = wire.decode_columns(self.reference.types, tensors)
        candidates = max((len(v) for v in raw.values()), default=0)
        rows, scores = self.reference.rank_rows(raw, _k(tensors, candidates))
        return self.answer(tensors, rows, scores, candidates)
