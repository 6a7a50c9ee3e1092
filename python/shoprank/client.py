"""A client for the Triton deployment (``shoprank export-triton`` + ``shoprank serve``).

    client = RankClient("localhost:8001")                # gRPC; "http" on port 8000
    client.ready()                                       # True once every model is loaded
    ids, scores = client.rank({"user_id": 7, "timestamp": now, "device": "app"},
                              [12, 40, 41, 99], k=2)    # the k best, best first

The request is the same as ``shoprank.Ranker.rank``'s: the user's columns (one value
each) and the candidates (item ids, or a dict of columns), and the answer is too. The
columns' types come from the served model's config, so values are sent as it reads them.
Needs only NumPy and tritonclient.
"""

from __future__ import annotations

import numpy as np

from shoprank.ranker.raw import request_columns
from shoprank.serving import wire

PROTOCOLS = ("grpc", "http")


class RankError(RuntimeError):
    """The server refused or failed a request; the message is the server's reason."""


class RankClient:
    def __init__(self, url: str | None = None, protocol: str = "grpc", model: str = "ensemble",
                 timeout_s: float = 60.0):
        """url: host:port (default localhost:8001 for gRPC, localhost:8000 for HTTP);
        model: "ensemble" (transform -> score -> select) or "ranker" (one step)."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}")
        self.protocol, self.model, self.timeout_s = protocol, model, timeout_s
        self.url = url or ("localhost:8001" if protocol == "grpc" else "localhost:8000")
        if protocol == "grpc":
            import tritonclient.grpc as module

            self._client = module.InferenceServerClient(self.url)
        else:
            import tritonclient.http as module

            self._client = module.InferenceServerClient(
                self.url, connection_timeout=timeout_s, network_timeout=timeout_s)
        self._module = module
        self._inputs: dict[str, str] | None = None
        self._item_key: str | None = None

    def ready(self) -> bool:
        """True when the server is up and the model is loaded."""
        try:
            return bool(self._client.is_server_ready() and self._client.is_model_ready(self.model))
        except Exception:  # refused, reset, timed out: not ready
            return False

    def _describe(self) -> None:
        if self._inputs is not None:
            return
        try:
            config = self._client.get_model_config(self.model)
        except Exception as error:
            raise RankError(f"{self.url}: cannot read model {self.model!r}'s config: "
                            f"{error}") from None
        config = config.get("config", config) if isinstance(config, dict) else \
            _grpc_config_dict(config)
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        if "raw_inputs" not in parameters:
            raise RankError(f"model {self.model!r} was not written by shoprank export-triton "
                            f"(its config has no raw_inputs)")
        self._inputs = wire.parse_inputs(parameters["raw_inputs"])
        self._item_key = parameters.get("item_key") or None

    def request_tensors(self, user: dict, candidates, k: int) -> dict[str, np.ndarray]:
        """The request's tensors (wire.py's layout), as rank() sends them."""
        self._describe()
        candidates = request_columns(self._inputs, self._item_key, user, candidates)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k: expected an integer, got {type(k).__name__}")
        return wire.encode_request(self._inputs, user, candidates, k)

    def rank(self, user: dict, candidates, k: int):
        """(item ids, scores) of the k best candidates, best first."""
        tensors = self.request_tensors(user, candidates, k)
        inputs = []
        for name, array in tensors.items():
            tensor = self._module.InferInput(name, list(array.shape), wire.datatype(array))
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        outputs = [self._module.InferRequestedOutput(n) for n in (wire.ITEM_IDS, wire.SCORES)]
        try:
            deadline = {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}
            result = self._client.infer(self.model, inputs, outputs=outputs, **deadline)
        except Exception as error:
            message = getattr(error, "message", lambda: str(error))()
            raise RankError(message or str(error)) from None
        return result.as_numpy(wire.ITEM_IDS)[0], result.as_numpy(wire.SCORES)[0]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "RankClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _grpc_config_dict(response) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(response.config, preserving_proto_field_name=True)
