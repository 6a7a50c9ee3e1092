"""A client for the Triton deployment (``shoprank export-triton`` + ``shoprank serve``).

    client = RankClient("localhost:8001")                # gRPC; "http" on port 8000
    client.ready()                                       # True once every model is loaded
    ids, scores = client.rank({"user_id": 7, "timestamp": now, "device": "app"},
                              [12, 40, 41, 99], k=2)    # the k best, best first
    ids, scores = client.recommend({"user_id": 7, "timestamp": now, "device": "app"},
                                   k=10, exclude=[12])  # from the whole catalogue

The request is the same as ``shoprank.Ranker.rank``'s: the user's columns (one value
each) and the candidates (item ids, or a dict of columns), and the answer is too;
``recommend`` asks the `recommend` ensemble (retrieval, ranking, diversity re-rank) as
``shoprank.Recommender.recommend`` asks the engine in-process. The
columns' types come from the served model's config, so values are sent as it reads them.
A request that finds no server (refused, reset: tritonserver restarting under
``shoprank serve``) is sent again for up to ``retry_for_s`` seconds: ranking is idempotent.
One that the server dropped twice while answering it is not sent a third time: it may be
what stops the server, and every try would cost a restart of the deployment.
Needs only NumPy and tritonclient.
"""

from __future__ import annotations

import time

import numpy as np

from shoprank.ranker.raw import check_recommend_columns, request_columns
from shoprank.serving import wire

PROTOCOLS = ("grpc", "http")
LOSSES_TO_GIVE_UP = 2  # times the server went away while answering one request
RECOMMEND_MODEL, EVENTS_MODEL = "recommend", "events"


class RankError(RuntimeError):
    """The server refused or failed a request; the message is the server's reason."""


class RankClient:
    def __init__(self, url: str | None = None, protocol: str = "grpc", model: str = "ensemble",
                 timeout_s: float = 60.0, retry_for_s: float = 20.0):
        """url: host:port (default localhost:8001 for gRPC, localhost:8000 for HTTP);
        model: "ensemble" (transform -> score -> select) or "ranker" (one step);
        retry_for_s: how long a request that found no server is tried again (0: never)."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}")
        self.protocol, self.model, self.timeout_s = protocol, model, timeout_s
        self.retry_for_s = retry_for_s
        self.retries = 0  # requests sent again, over this client's life
        self.url = url or ("localhost:8001" if protocol == "grpc" else "localhost:8000")
        if protocol == "grpc":
            import tritonclient.grpc as module

            self._client = module.InferenceServerClient(self.url, channel_args=_channel_args())
        else:
            import tritonclient.http as module

            self._client = module.InferenceServerClient(
                self.url, connection_timeout=timeout_s, network_timeout=timeout_s)
        self._module = module
        self._inputs: dict[str, str] | None = None
        self._item_key: str | None = None
        self._recommend: tuple | None = None  # request inputs, item key type, label columns
        self._event_columns: dict[str, str] | None = None

    def ready(self) -> bool:
        """True when the server is up and the model is loaded."""
        try:
            return bool(self._client.is_server_ready() and self._client.is_model_ready(self.model))
        except Exception:  # refused, reset, timed out: not ready
            return False

    def _parameters(self, model: str, needed: str) -> dict[str, str]:
        """The config parameters shoprank export-triton wrote for the model."""
        try:
            config = self._retrying(lambda: self._client.get_model_config(model))
        except RankError as error:
            raise RankError(f"{self.url}: cannot read model {model!r}'s config: "
                            f"{error}") from None
        config = config.get("config", config) if isinstance(config, dict) else \
            _grpc_config_dict(config)
        # (an empty string_value is left out of gRPC's JSON)
        parameters = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        if needed not in parameters:
            raise RankError(f"model {model!r} was not written by shoprank export-triton "
                            f"(its config has no {needed})")
        return parameters

    def _describe(self) -> None:
        if self._inputs is not None:
            return
        parameters = self._parameters(self.model, "raw_inputs")
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
        return self._infer(self.model, self.request_tensors(user, candidates, k))

    def recommend_tensors(self, user: dict, k: int, **options) -> dict[str, np.ndarray]:
        """The recommendation request's tensors, as recommend() sends them."""
        if self._recommend is None:
            parameters = self._parameters(RECOMMEND_MODEL, "request_inputs")
            self._recommend = (wire.parse_inputs(parameters["request_inputs"]),
                               parameters["item_key_type"],
                               [c for c in parameters.get("labels", "").split(",") if c])
        inputs, item_key_type, labels = self._recommend
        unknown = sorted(set(options.get("caps") or {}) - set(labels))
        if unknown:
            raise ValueError(f"caps: no labels for item column(s) {unknown} (the served model "
                             f"caps by: {', '.join(labels) or 'no column'})")
        check_recommend_columns(inputs, user)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k: expected an integer, got {type(k).__name__}")
        return wire.encode_recommend(inputs, item_key_type, user, k, **options)

    def recommend(self, user: dict, k: int, *, exclude=(), candidates: int | None = None,
                  relevance_weight: float | None = None, caps: dict | None = None):
        """(item ids, scores) of the k best items of the whole catalogue for the request's
        user, best first, from the `recommend` ensemble; the options are those of
        shoprank.Recommender.recommend (None: the server's defaults)."""
        tensors = self.recommend_tensors(user, k, exclude=exclude, candidates=candidates,
                                         relevance_weight=relevance_weight, caps=caps)
        return self._infer(RECOMMEND_MODEL, tensors)

    def events_tensors(self, events: dict) -> dict[str, np.ndarray]:
        """The events' tensors ({column: [1, n]}), as log_events() sends them."""
        if self._event_columns is None:
            parameters = self._parameters(EVENTS_MODEL, "event_columns")
            self._event_columns = wire.parse_inputs(parameters["event_columns"])
        if not isinstance(events, dict):
            raise TypeError(f"events: expected a dict of columns, got {type(events).__name__}")
        unknown = sorted(set(events) - set(self._event_columns))
        if unknown:
            raise ValueError(f"unknown event column(s) {unknown} (an event has: "
                             f"{', '.join(self._event_columns)})")
        tensors = {}
        for name, values in events.items():
            tensors.update(wire.encode_column(name, self._event_columns[name], values,
                                              nulls=False))
        return tensors

    def log_events(self, events: dict) -> int:
        """Sends events ({column: one value per event}, in time order: the logs' own columns,
        e.g. timestamp, user_id, item_id, click) to the `events` model; returns how many the
        server wrote to its event log (durably, before it answered). A request that found
        no server is sent again: an event may then be logged twice, never lost."""
        inputs = wire.infer_inputs(self._module, self.events_tensors(events))
        output = [self._module.InferRequestedOutput(wire.ACCEPTED)]
        deadline = {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}
        result = self._retrying(lambda: self._client.infer(EVENTS_MODEL, inputs, outputs=output,
                                                           **deadline))
        return int(result.as_numpy(wire.ACCEPTED).reshape(-1)[0])

    def _infer(self, model: str, tensors: dict):
        inputs = wire.infer_inputs(self._module, tensors)
        outputs = [self._module.InferRequestedOutput(n) for n in (wire.ITEM_IDS, wire.SCORES)]
        deadline = {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}
        result = self._retrying(lambda: self._client.infer(model, inputs, outputs=outputs,
                                                           **deadline))
        ids = result.as_numpy(wire.ITEM_IDS)[0]
        if ids.dtype == np.object_:  # text ids arrive as bytes
            ids = np.array([i.decode("utf-8") for i in ids], dtype=object)
        else:  # (HTTP gives an empty answer as float64)
            ids = ids.astype(np.int64, copy=False)
        return ids, result.as_numpy(wire.SCORES)[0].astype(np.float32, copy=False)

    def _retrying(self, send):
        """send() until it is answered, or it fails other than by finding no server, or
        the server went away while answering it LOSSES_TO_GIVE_UP times, or retry_for_s has
        passed (waits doubling from 0.1 s, at most 0.5 s: a restarted server is found within
        half a second of being ready)."""
        start, wait, tries, losses = time.monotonic(), 0.1, 0, 0
        while True:
            tries += 1
            try:
                return send()
            except Exception as error:
                message = _message(error)
                if not _no_server(error):
                    raise RankError(message) from None
                losses += _lost_in_flight(error)
                if losses >= LOSSES_TO_GIVE_UP:
                    raise RankError(
                        f"{self.url}: the server went away {losses} times while answering this "
                        f"request ({message}); it may be what stops the server, so it is not "
                        "sent again") from None
                spent = time.monotonic() - start
                if spent + wait > self.retry_for_s:
                    raise RankError(f"{self.url}: no server answered after {tries} tries in "
                                    f"{spent:.1f} s: {message}") from None
            self.retries += 1
            time.sleep(wait)
            wait = min(2 * wait, 0.5)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "RankClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _channel_args() -> list[tuple]:
    """tritonclient's gRPC channel defaults, reconnecting within 0.1-1 s: gRPC's own backoff
    (1 s growing 1.6x) kept clients waiting 7-11 s after a server that restarted in 1.8 s."""
    from tritonclient.grpc import MAX_GRPC_MESSAGE_SIZE, KeepAliveOptions

    keepalive = KeepAliveOptions()
    return [("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
            ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
            ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
            ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
            ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000)]


def _message(error) -> str:
    return (error.message() if hasattr(error, "message") else "") or str(error)


def _lost_in_flight(error) -> bool:
    """The connection broke while the request was on it (reset, closed), as when the server
    dies answering it; not a server that was not there (refused). The guard in front says
    which of the two it saw (503 / UNAVAILABLE: "the connection closed while Triton answered
    it", or "Triton is not answering")."""
    text = _message(error).lower()
    if isinstance(error, ConnectionRefusedError) or "refused" in text or "failed to connect" in text:
        return False
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return True
    status = str(getattr(error, "status", lambda: "")() or "")
    return status in ("StatusCode.UNAVAILABLE", "503") and any(
        word in text for word in ("reset", "closed", "broken pipe", "goaway", "eof"))


def _no_server(error) -> bool:
    """The request found no server to answer it (so sending it again may work): refused or
    reset connections, gRPC UNAVAILABLE, and HTTP 502-504 from the guard in front of a
    restarting server. Errors about the request itself are not."""
    status = str(getattr(error, "status", lambda: "")() or "")
    if status in ("StatusCode.UNAVAILABLE", "502", "503", "504"):
        return True
    return isinstance(error, (ConnectionError, OSError)) and not isinstance(error, TimeoutError)


def _grpc_config_dict(response) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(response.config, preserving_proto_field_name=True)
