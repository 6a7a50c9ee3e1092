"""The Python-backend models of the Triton repository (shoprank export-triton writes a
model.py that names one of these as TritonPythonModel).

  transform   raw request columns -> model features      (the engine's transform_request)
  score       model features      -> candidate_scores    (forward_request)
  select      candidate_scores, k -> item_ids, scores    (select_request: the engine's top-k)
  events      impressions / clicks / purchases -> the event log (shoprank/events): every
              request's events checked, those of one batch written as one durable segment
  baseline    the Merlin path, for benchmarks: NVTabular Workflow + TensorFlow + argpartition
              (MerlinRanker: needs the full install, and the trained model folder)

The one-call `ranker` model is not here: it runs in the shoprank C++ backend
(csrc/triton), inside the server's process, and reads the same layout.

Each request is answered on its own: a bad one gets an error response naming what was
wrong, and the other requests of the same batch are answered as usual. The tensors are
read and checked by the engine's one request reader (engine/include/shoprank/request.h),
as the C++ backend reads them.
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
        if self.needs_ranker:  # the engine itself: the steps hand it the request's tensors
            from shoprank import _engine

            folder = Path(args["model_repository"]) / args["model_version"] / "artifacts"
            self.ranker = _engine.Ranker(str(folder))
            self.ranker.require_pseudonym_key()  # refused at load, not at every request

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                outputs = self.run(self._tensors(request))
                responses.append(self._pb.InferenceResponse(
                    output_tensors=[self._pb.Tensor(n, v) for n, v in outputs.items()]))
            except Exception as error:  # the request's fault or not, it gets the reason
                responses.append(self._pb.InferenceResponse(error=self._error(error)))
        return responses

    def _tensors(self, request) -> dict[str, np.ndarray]:
        """The request's tensors by name (those it carries of the model's inputs)."""
        tensors = {}
        for name in self.input_names:
            tensor = self._pb.get_input_tensor_by_name(request, name)
            if tensor is not None:
                tensors[name] = tensor.as_numpy()
        return tensors

    def _error(self, error: Exception):
        """Bad input (ValueError, TypeError) is the client's: INVALID_ARG, worded as the C++
        backend words it; the rest INTERNAL, with the error's type."""
        codes = self._pb.TritonError
        if isinstance(error, (ValueError, TypeError)):
            return codes(f"{self.name}: {error}", codes.INVALID_ARG)
        return codes(f"{self.name}: {type(error).__name__}: {error}", codes.INTERNAL)

    def finalize(self):
        self.ranker = None

    def run(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def answer(self, ids, scores) -> dict[str, np.ndarray]:
        ids = np.asarray(ids)
        ids = (np.array([i.encode() for i in ids], dtype=object) if ids.dtype.kind in "OU"
               else ids.astype(np.int64))  # text item ids travel as BYTES
        return {wire.ITEM_IDS: ids[None, :], wire.SCORES: np.asarray(scores, np.float32)[None, :]}


class TransformStep(_Step):
    def run(self, tensors):
        features = self.ranker.transform_request(tensors, self.max_candidates)
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
        scores = self.ranker.forward_request(tensors, self.threads)
        return {wire.CANDIDATE_SCORES: scores[None, :]}


class SelectStep(_Step):
    needs_ranker = False

    def run(self, tensors):
        from shoprank import _engine

        return self.answer(*_engine.select_request(tensors, self.item_key or ""))


class BaselineModel(_Step):
    """The way a Merlin user would serve the model: the saved NVTabular Workflow on a
    DataFrame, then TensorFlow, then argpartition. The trained model folder (and the ETL
    output it names) is read in place: the model_dir parameter."""

    needs_ranker = False

    def initialize(self, args):
        super().initialize(args)
        from shoprank.models.merlin_ranker import MerlinRanker

        self.merlin = MerlinRanker(self.parameters["model_dir"])

    def run(self, tensors):
        from shoprank import _engine

        request = _engine.read_request(list(self.merlin.types.items()), tensors,
                                       self.max_candidates, self.item_key or "")
        rows, scores = self.merlin.rank_rows(request["columns"], request["k"])
        ids = request["item_ids"]
        return self.answer(rows if ids is None else np.asarray(ids)[rows], scores)


class EventsStep(_Step):
    """Events into the event log. The requests Triton hands over together are written as
    one segment, fsync'ed once (group commit); each request is answered only after that,
    with the number of its events written, or the reason it was refused."""

    needs_ranker = False

    def initialize(self, args):
        super().initialize(args)
        from shoprank.events.log import EventLog

        self.log = EventLog(self.parameters["events_dir"],
                            max_lateness_s=float(self.parameters["max_lateness_s"]))
        self.types = list(self.log.schema.columns.items())
        self.observe_model = self.parameters.get("observe_model") or None
        if self.observe_model:  # the columns the real-time state reads, as it reads them
            from shoprank.serving import wire

            self.observed = wire.parse_inputs(self.parameters["observed_columns"])

    def execute(self, requests):
        from shoprank import _engine

        batches, read = [], []
        for request in requests:
            try:
                got = _engine.read_request(self.types, self._tensors(request),
                                           self.max_candidates, "", with_k=False)
                batches.append(_broadcast(got["columns"], got["candidates"]))
                read.append(None)
            except Exception as error:  # the request's own fault: refused alone
                read.append(error)
        outcomes = self.log.append_many(batches) if batches else []
        if self.observe_model:  # logged first: the state holds only what the log holds
            for batch, outcome in zip(batches, outcomes):
                if not isinstance(outcome, Exception):
                    try:
                        self._observe(batch)
                    except Exception as error:  # logged already: the answer stands
                        self._pb.Logger.log_error(f"events: not taken into the real-time "
                                                  f"state: {error}")
        written = iter(outcomes)
        responses = []
        for error in read:
            outcome = error if error is not None else next(written)
            if isinstance(outcome, Exception):
                responses.append(self._pb.InferenceResponse(error=self._error(outcome)))
            else:
                responses.append(self._pb.InferenceResponse(output_tensors=[self._pb.Tensor(
                    wire.ACCEPTED, np.array([[outcome]], np.int64))]))
        return responses

    def _observe(self, batch: dict) -> None:
        """Hands logged events to the real-time state (the shoprank backend's observe step,
        in the server's process). The wire carries no nulls: a batch that leaves the user
        or the item out counts for nothing there and is not sent."""
        from shoprank.serving import wire

        if not all(name in batch for name in self.observed):
            return
        tensors = {}
        for name, kind in self.observed.items():
            tensors.update(wire.encode_column(name, kind, batch[name], nulls=False))
        request = self._pb.InferenceRequest(
            model_name=self.observe_model, requested_output_names=[wire.OBSERVED],
            inputs=[self._pb.Tensor(name, value) for name, value in tensors.items()])
        response = request.exec()
        if response.has_error():  # logged already: the state catches up on the next start
            self._pb.Logger.log_error(f"events: the real-time state refused a batch: "
                                      f"{response.error().message()}")


def _broadcast(columns: dict, rows: int) -> dict:
    """One-value columns (the request's user, device) given to every event."""
    out = {}
    for name, values in columns.items():
        out[name] = (list(values) * rows if isinstance(values, list) else
                     np.repeat(values, rows)) if len(values) == 1 and rows > 1 else values
    return out
