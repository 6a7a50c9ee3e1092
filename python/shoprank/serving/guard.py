"""The guard: nginx (Debian's nginx-light with its njs module) in front of Triton's HTTP and
gRPC endpoints, so that no request reaches Triton 2.51's readers unchecked.

Triton's HTTP/JSON reader allocates what an input's shape declares before it reads the
data: one request declaring [1, 2^40] elements aborts tritonserver (std::bad_alloc), one
declaring 3e9 gets it killed for memory (fixed upstream only in 2026, in no build on the
package registries). Over gRPC, a shape whose byte size wraps 64 bits ([1, 2^61 + n] INT64
carrying 8n bytes) passes Triton's size check and kills the Python stub of the model it
reaches. The guard listens on the public ports; Triton's own are on loopback only:

* bodies over ``max_body_bytes`` (gRPC: also over 16 MiB) are refused (413, gRPC
  RESOURCE_EXHAUSTED) before anything reads them;
* every infer request (HTTP's infer, gRPC's ModelInfer) is checked by guard.js (inputs
  known to the model, datatypes, each declared element count within the model's limits
  and equal to the data it carries, strings bounded) and passed on only if it holds;
  otherwise 400 with Triton's error body, or INVALID_ARGUMENT, naming the input and the
  rule;
* over HTTP, health, metadata, config and statistics (GET) pass; everything else (model
  control, shared-memory registration, trace and log settings) is refused with 403: those
  stay on Triton's loopback port for the server's owner. Over gRPC the other calls pass
  (Triton itself asks model control and the like for the owner's header); streaming
  inference is refused (UNIMPLEMENTED: a stream cannot be checked before it is passed on);
* when Triton does not answer (restarting), 503 / UNAVAILABLE, saying whether the request
  was lost on its way ("the connection closed while Triton answered it") or found no
  server: a client may send the latter again freely.

The limits are read from the served models themselves (Triton's metadata and configs) when
the guard starts and again after a model is reloaded.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

NGINX = "/usr/sbin/nginx"
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
INSTALL = "apt-get install nginx-light libnginx-mod-http-js"
GRPC_MAX_BODY_BYTES = 16 << 20  # (over HTTP max_body_bytes; see the gRPC server's config)


class GuardError(RuntimeError):
    """The guard could not start (nginx or its njs module missing, port taken)."""


def guard_limits(triton_url: str, *, max_list_length: int, max_string_bytes: int) -> dict:
    """guard.js's limits for every model Triton serves, from its metadata: per input
    the datatype, the shape's rank and the most elements a request may declare (the batch
    size times, per variable dimension, max_candidates + 1 (offsets have one more), times
    max_list_length for a list's flat values)."""
    index = _call(triton_url, "/v2/repository/index", data=b"{}")
    models, described = {}, {}
    for entry in index:
        name = entry["name"]
        if entry.get("state") == "READY" and name not in described:
            described[name] = (_call(triton_url, f"/v2/models/{name}"),
                               _call(triton_url, f"/v2/models/{name}/config"))
    # a model without its own limit (the ensemble) gets the largest of the repository's
    default = max(filter(None, (_candidates(c) for _, c in described.values())),
                  default=100_000)
    for name, (metadata, config) in described.items():
        limit = _candidates(config) or default
        batch = int(config.get("max_batch_size", 0))  # 0: no batch dimension in the shape
        names = {i["name"] for i in metadata["inputs"]}
        inputs = {}
        for tensor in metadata["inputs"]:
            shape = tensor["shape"]
            elements = max(batch, 1)
            for size in shape[1:] if batch else shape:
                elements *= (limit + 1) if size < 0 else max(int(size), 1)
            is_list = {tensor["name"] + "__lengths", tensor["name"] + "__offsets"} & names
            inputs[tensor["name"]] = {"datatype": tensor["datatype"], "rank": len(shape),
                                      "max_elements": elements * (max_list_length if is_list
                                                                  else 1)}
        models[name] = {"inputs": inputs, "outputs": [o["name"] for o in metadata["outputs"]]}
    return {"models": models, "max_string_bytes": max_string_bytes}


def _candidates(config: dict) -> int | None:
    value = config.get("parameters", {}).get("max_candidates")
    return int(value["string_value"]) if value else None


def _call(base: str, path: str, data: bytes | None = None):
    request = urllib.request.Request(f"http://{base}{path}", data=data,
                                     method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Guard:
    """nginx on host:http_port and host:grpc_port in front of Triton's HTTP endpoint at
    triton_url and its gRPC endpoint at triton_grpc_url (both on loopback)."""

    def __init__(self, workspace: Path, *, host: str, http_port: int, grpc_port: int,
                 triton_url: str, triton_grpc_url: str, max_body_bytes: int = 64 << 20,
                 max_list_length: int = 256, max_string_bytes: int = 65_536):
        for path, what in ((NGINX, "nginx"), (NJS_MODULE, "nginx's njs module")):
            if not Path(path).exists():
                raise GuardError(f"the guard needs {what} ({path}): {INSTALL}")
        self.folder = Path(workspace) / "guard"
        self.host, self.http_port, self.grpc_port = host, http_port, grpc_port
        self.triton_url, self.triton_grpc_url = triton_url, triton_grpc_url
        self.max_body_bytes = max_body_bytes
        self.max_list_length, self.max_string_bytes = max_list_length, max_string_bytes
        self.process: subprocess.Popen | None = None
        self.tmp: Path | None = None  # nginx's temporary files, while it runs

    def start(self, timeout_s: float = 10) -> "Guard":
        from shoprank.serving.server import _die_with_parent, cannot_listen

        for port in (self.http_port, self.grpc_port):
            why = cannot_listen(self.host, port)  # nginx would retry for seconds first
            if why:
                raise GuardError(f"{self.host}:{port} {why}")
        (self.folder / "js").mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(__file__).with_name("guard.js"), self.folder / "js")
        self.write_limits()
        # started by root, nginx's workers run as nobody: their temporary files (a body once
        # it fills its buffer: a gRPC body's size is not known in advance) go where they can
        # reach, not in the private workspace (that made a body over the cap a 500)
        self.tmp = Path(tempfile.mkdtemp(prefix="shoprank-guard-"))
        self.tmp.chmod(0o711)
        (self.folder / "nginx.conf").write_text(self._config())
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, errors="replace", start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, output = self.process.returncode, self.process.stdout.read()
                self.stop()
                raise GuardError(f"nginx exited (code {code}): {output}")
            try:  # answered through nginx by Triton: both up (nginx opens both ports at once)
                with urllib.request.urlopen(
                        f"http://{self.host}:{self.http_port}/v2/health/live", timeout=2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise GuardError(f"nginx did not listen on {self.host}:{self.http_port} in "
                         f"{timeout_s} s")

    def write_limits(self) -> None:
        limits = guard_limits(self.triton_url, max_list_length=self.max_list_length,
                              max_string_bytes=self.max_string_bytes)
        (self.folder / "js" / "guard_limits.json").write_text(json.dumps(limits, indent=1))

    def refresh(self) -> None:
        """New limits after a model changed (nginx reloads its configuration gracefully)."""
        self.write_limits()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish open requests
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _config(self) -> str:
        tmp = self.tmp
        body = self.max_body_bytes
        grpc_body = min(body, GRPC_MAX_BODY_BYTES)
        lost = "the connection closed while Triton answered it"
        away = "Triton is not answering (restarting?)"
        return f"""# Written by shoprank (serving/guard.py) for one server run.
load_module {NJS_MODULE};
daemon off;
master_process on;
worker_processes 1;
pid {self.folder / 'nginx.pid'};
error_log stderr error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    # nginx closes a connection after 1,000 requests by default: a client (or the pool to
    # Triton) would reconnect every second or two under load, a tail-latency hit each time
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size {body};
    client_body_buffer_size {body};
    default_type application/json;
    js_path {self.folder / 'js'};
    js_import guard from guard.js;
    # the limits as one immutable object all requests share (an imported module would be
    # copied into every request's VM: 40-60 us per request for a repository's models)
    js_preload_object limits from {self.folder / 'js' / 'guard_limits.json'};
    js_var $guard_body;
    # a request that reached Triton (bytes sent) before it went away was lost on its way;
    # one that found no Triton may be sent again
    map $upstream_bytes_sent $triton_lost {{ "~(^|[ ,])0$" ""; "" ""; default "lost"; }}
    map $triton_lost $away_json {{ lost '{{"error": "{lost}"}}'; default '{{"error": "{away}"}}'; }}
    map $triton_lost $away_grpc {{ lost "{quote(lost)}"; default "{quote(away)}"; }}
    # idle connections to Triton close within a second: a Triton told to stop waits for
    # its open connections (its exit timeout would expire on the guard's idle ones)
    upstream triton {{ server {self.triton_url}; keepalive 64; keepalive_timeout 1s;
                       keepalive_requests 1000000; }}
    upstream triton_grpc {{ server {self.triton_grpc_url}; keepalive 64; keepalive_timeout 1s;
                            keepalive_requests 1000000; }}
    server {{
        listen {self.host}:{self.http_port};
        error_page 413 = @too_large;
        location @too_large {{ return 413 '{{"error": "the request body is over {body} bytes"}}'; }}
        location ~ ^/v2/models/[^/]+(/versions/[0-9]+)?/infer$ {{ js_content guard.infer; }}
        # (named locations: the request goes on with its own URI, no second location search)
        location @triton {{           # the request as it came (binary data after a header)
            proxy_pass http://triton;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;      # Triton's answer goes on as it comes
            proxy_read_timeout 300s;
        }}
        location @triton_json {{      # JSON alone, as the guard read and re-wrote it
            proxy_pass http://triton;
            proxy_set_body $guard_body;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;      # Triton's answer goes on as it comes
            proxy_read_timeout 300s;
        }}
        error_page 502 504 = @not_answering;
        location @not_answering {{ return 503 $away_json; }}
        location ~ ^/v2(/health/(live|ready)|/models/stats|/models/[^/]+(/versions/[0-9]+)?(/ready|/config|/stats)?)?$ {{
            limit_except GET {{ deny all; }}
            proxy_pass http://triton;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location / {{ return 403 '{{"error": "not served on this port"}}'; }}
    }}
    server {{                          # gRPC (HTTP/2 without TLS, as Triton's own port)
        listen {self.host}:{self.grpc_port} http2;
        default_type application/grpc;
        # a gRPC body's size is not known in advance: nginx allocates its whole buffer for
        # each request (from mmap each time past 32 MiB: 30 us of CPU per request more)
        client_max_body_size {grpc_body};
        client_body_buffer_size {grpc_body};
        error_page 413 = @grpc_too_large;
        error_page 502 504 = @grpc_not_answering;
        location = /inference.GRPCInferenceService/ModelInfer {{ js_content guard.grpcInfer; }}
        location @triton_grpc {{ grpc_pass grpc://triton_grpc; grpc_read_timeout 300s; }}
        location = /inference.GRPCInferenceService/ModelStreamInfer {{
{_grpc_error(12, "streaming inference is not served on this port: use ModelInfer")}
        }}
        location /inference.GRPCInferenceService/ {{
            grpc_pass grpc://triton_grpc;
            grpc_read_timeout 300s;
        }}
        location @grpc_too_large {{
{_grpc_error(8, f"the request is over {grpc_body} bytes")}
        }}
        location @grpc_not_answering {{
{_grpc_error(14, "$away_grpc")}
        }}
        location / {{
{_grpc_error(12, "not served on this port")}
        }}
    }}
}}
"""


def _grpc_error(code: int, message: str) -> str:
    """A location's answer as a gRPC error: an HTTP/2 answer whose headers carry the
    status and the (percent-encoded) message; message: text, or an nginx variable."""
    text = message if message.startswith("$") else quote(message)
    return (f"            add_header grpc-status {code} always;\n"
            f"            add_header grpc-message \"{text}\" always;\n"
            f"            return 204;")
