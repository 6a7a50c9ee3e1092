"""Triton Inference Server from the nvidia-pytriton wheel, started on a model repository.

The wheel carries ``tritonserver``, the Python backend and a Python-backend stub for each
Python version. The server gets a private backend folder with the stub of the running
Python, the wheel's libraries and this interpreter's libpython on the library path, and
this environment's ``bin`` first on PATH: the repository's models then run in the same
virtual environment as shoprank itself. The folder also gets the shoprank backend
(libtriton_shoprank.so, built with the engine), which serves the ``ranker`` model inside the
server's own process.

    with TritonServer(repo, http_port=8000, grpc_port=8001) as server:
        server.wait_ready()
        ...                            # requests; leaving the block stops it

The server runs in its own process group; stop() sends SIGTERM (Triton lets in-flight
requests finish), waits, and kills the whole group if it has not exited in time; and the
server gets SIGTERM by itself if its owner dies without stopping it, so no server or stub
outlives its owner.

Triton 2.51 does not restart a Python-backend stub that died (killed, out of memory): its
model answers every request with "Stub process ... is not healthy" while the health
endpoints still say ready. A watchdog (on unless watch=False) notices a model's stub gone
and unloads and loads that model (explicit model control), which starts a new one.

HTTP and gRPC go through the guard (guard.py, on unless guard=False): nginx on the public
ports checks every request before Triton's own endpoints, which listen on loopback ports of
their own (``admin_url``: HTTP model control, for the owner only; ``triton_grpc_url``);
over gRPC, model control, shared memory, trace and log settings need
``admin_grpc_headers``. If tritonserver itself exits (aborted, killed), ``supervise``
starts it again on the same ports.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from shoprank.serving.replay import read_logged, replay


SERVING_NOTE = "shoprank-serving.json"  # in the repository while a server serves it


class ServerError(RuntimeError):
    """The server could not start, or stopped while it was needed."""


def model_control(admin_url: str, model: str, action: str) -> None:
    """POSTs a load or unload of ``model`` to Triton's own HTTP endpoint (explicit model
    control); raises ServerError with Triton's reason if it fails."""
    request = urllib.request.Request(
        f"http://{admin_url}/v2/repository/models/{model}/{action}", data=b"{}",
        method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300):
            pass
    except (urllib.error.URLError, OSError) as error:
        detail = error.read().decode() if hasattr(error, "read") else error
        raise ServerError(f"{action} of model {model!r} at {admin_url} failed: "
                          f"{detail}") from None


def triton_home() -> Path:
    """The wheel's Triton folder (bin/, backends/, python_backend_stubs/)."""
    try:
        import pytriton
    except ImportError:
        raise ServerError("Triton Inference Server is not installed: it comes with the "
                          "nvidia-pytriton wheel (pip install 'shoprank[serving]')") from None
    return Path(pytriton.__file__).parent / "tritonserver"


def shoprank_backend() -> Path:
    """libtriton_shoprank.so, installed beside the engine's Python extension."""
    from shoprank import _engine

    library = Path(_engine.__file__).parent / "libtriton_shoprank.so"
    if not library.is_file():
        raise ServerError(f"{library}: the shoprank Triton backend was not built (reinstall "
                          f"shoprank: its build makes it with the engine)")
    return library


KEY_FILE_VARIABLE = "SHOPRANK_KEY_FILE"  # engine/include/shoprank/privacy/pseudonyms.h


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def cannot_listen(host: str, port: int) -> str | None:
    """Why nothing can listen on host:port ("is in use", or the system's reason), or None (a
    port whose last connections are only closing, TIME_WAIT, is free, as it is to Triton
    and nginx)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        return ("is in use" if error.errno == errno.EADDRINUSE
                else f"cannot be listened on ({error})")
    return None


class TritonServer:
    def __init__(self, repo, *, host: str = "127.0.0.1", http_port: int = 8000,
                 grpc_port: int = 8001, metrics_port: int = 8002, exit_timeout_s: int = 30,
                 log=None, verbose: bool = False, watch: bool = True, guard: bool = True,
                 key_file=None):
        """log: a callable taking each line of the server's log (default: dropped);
        watch: reload a model whose Python stub died; guard: HTTP and gRPC through the guard
        (see the module's docstring); key_file: the key of artifacts with pseudonymised ids
        (shoprank etl --key-file), handed to the models as SHOPRANK_KEY_FILE."""
        self.repo = Path(repo).resolve()
        if not (self.repo / "ranker" / "config.pbtxt").is_file():
            raise FileNotFoundError(f"{repo}: not a model repository (shoprank export-triton "
                                    f"writes one)")
        self.key_file = _key_file(self.repo, key_file)
        self.host, self.exit_timeout_s = host, exit_timeout_s
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.log, self.verbose, self.watch = log, verbose, watch
        self.reloads: list[str] = []  # the models the watchdog reloaded, in order
        self.guard = None              # the Guard, once the server is ready
        self._logged = None            # events to rebuild the real-time state from, once ready
        self.guarded = guard
        self.triton_http_port = free_port() if guard else http_port
        self.triton_grpc_port = free_port() if guard else grpc_port
        # gRPC's model control and shared-memory calls need this header when guarded
        self.admin_token = secrets.token_hex(16)
        self._stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self._workspace: Path | None = None
        self._reader: threading.Thread | None = None
        self.log_lines: list[str] = []  # the last lines, for error messages

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def admin_grpc_headers(self) -> dict:
        """What a gRPC call of model control or shared memory must carry when guarded."""
        return {"triton-grpc-protocol-shoprank-admin": self.admin_token}

    @property
    def _triton_host(self) -> str:
        """Where Triton's own endpoints listen: behind the guard, on loopback only."""
        return "127.0.0.1" if self.guarded else self.host

    @property
    def admin_url(self) -> str:
        """Triton's own HTTP endpoint (model control)."""
        return f"{self._triton_host}:{self.triton_http_port}"

    @property
    def triton_grpc_url(self) -> str:
        """Triton's own gRPC endpoint."""
        return f"{self._triton_host}:{self.triton_grpc_port}"

    def start(self) -> "TritonServer":
        home = triton_home()
        stub = home / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}"
        if not (stub / "triton_python_backend_stub").is_file():
            raise ServerError(f"the nvidia-pytriton wheel has no Python-backend stub for Python "
                              f"{sys.version_info.major}.{sys.version_info.minor}")
        for what, port in (("HTTP", self.http_port), ("gRPC", self.grpc_port),
                           ("metrics", self.metrics_port)):  # said now, not once loaded
            why = cannot_listen(self.host, port)
            if why:
                raise ServerError(f"the {what} port {self.host}:{port} {why}: choose "
                                  f"another (--{what.lower()}-port) or --host")
        self._stopping.clear()
        self._workspace = Path(tempfile.mkdtemp(prefix="shoprank-triton-"))
        backend = self._workspace / "backends" / "python"
        shutil.copytree(home / "backends" / "python", backend)
        shutil.copy2(stub / "triton_python_backend_stub", backend)
        (self._workspace / "backends" / "shoprank").mkdir()
        shutil.copy2(shoprank_backend(), self._workspace / "backends" / "shoprank")
        self._logged = read_logged(self.repo)
        self._launch(home)
        return self

    def _launch(self, home: Path) -> None:
        command = [
            str(home / "bin" / "tritonserver"),
            f"--model-repository={self.repo}",
            f"--backend-directory={self._workspace / 'backends'}",
            f"--cache-directory={home / 'caches'}",
            "--model-control-mode=explicit", "--load-model=*",
            f"--http-address={self._triton_host}", f"--http-port={self.triton_http_port}",
            f"--grpc-address={self._triton_host}", f"--grpc-port={self.triton_grpc_port}",
            *([f"--grpc-restricted-protocol=model-repository,shared-memory,trace,logging:"
               f"shoprank-admin={self.admin_token}"] if self.guarded else []),
            f"--metrics-address={self.host}", f"--metrics-port={self.metrics_port}",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            "--strict-readiness=true",
            f"--log-verbose={1 if self.verbose else 0}",
        ]
        self.process = subprocess.Popen(
            command, env=_environment(home, self.key_file), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True,
            preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def restart(self, timeout_s: float = 120) -> float:
        """Starts tritonserver again after it exited by itself (same repository, ports and
        workspace; the guard stays up meanwhile); returns the seconds until it was ready."""
        start = time.monotonic()
        if self.process is not None:
            _kill_group(self.process.pid)  # stubs the dead server left behind
            self.process.wait()
            if self._reader is not None:
                self._reader.join(timeout=5)
        self._logged = read_logged(self.repo)
        self._launch(triton_home())
        self.wait_ready(timeout_s)
        return time.monotonic() - start

    def _read_log(self) -> None:
        for line in self.process.stdout:
            self._say(line.rstrip("\n"))

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.admin_url}/v2/health/ready",
                                        timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float = 120) -> "TritonServer":
        """Returns once every model is loaded; raises ServerError with the log's tail if the
        server exits or is not ready in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise ServerError(f"tritonserver exited (code {code}) before it was ready:\n"
                                  + self.tail())
            if self.ready():
                if self._logged is not None:
                    self._rebuild_realtime_state()
                if self.guarded and self.guard is None:
                    self._start_guard()
                self._write_note()
                if self.watch:
                    threading.Thread(target=self._watch, args=(self.process,),
                                     daemon=True).start()
                return self
            time.sleep(0.25)
        raise ServerError(f"tritonserver was not ready after {timeout_s:.0f} s:\n" + self.tail())

    def _rebuild_realtime_state(self) -> None:
        started = time.monotonic()
        taken = replay(self.triton_grpc_url, self.repo, self._logged)
        self._logged = None
        self._say(f"shoprank: real-time state rebuilt from {taken:,} logged events in "
                  f"{time.monotonic() - started:.1f} s")

    def _write_note(self) -> None:
        """REPO/shoprank-serving.json: where this server's model control is, for the
        commands that add or roll back versions while it serves (feedback/versions.py)."""
        note = {"admin_url": self.admin_url, "http_url": self.http_url,
                "grpc_url": self.grpc_url, "pid": os.getpid()}
        path = self.repo / SERVING_NOTE
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(note, indent=1) + "\n")
        os.replace(tmp, path)

    def _remove_note(self) -> None:
        path = self.repo / SERVING_NOTE
        try:
            if json.loads(path.read_text()).get("admin_url") == self.admin_url:
                path.unlink()
        except (OSError, ValueError):
            pass

    def _start_guard(self) -> None:
        from shoprank.serving.guard import Guard, GuardError

        try:
            self.guard = Guard(self._workspace, host=self.host, http_port=self.http_port,
                               grpc_port=self.grpc_port, triton_url=self.admin_url,
                               triton_grpc_url=self.triton_grpc_url).start()
        except GuardError as error:
            raise ServerError(f"the guard could not start on {self.http_url} and "
                              f"{self.grpc_url}: {error}") from None

    def stubs(self) -> Counter:
        """Live Python-backend stubs per (model, version)."""
        return _stubs(self.process.pid, self.repo) if self.process else Counter()

    def reload(self, model: str) -> None:
        """Unloads then loads ``model`` (explicit model control): new stubs, the newest
        version on disk. Raises ServerError with Triton's reason if either fails."""
        for action in ("unload", "load"):
            model_control(self.admin_url, model, action)
        if self.guard is not None:  # the new version's inputs may differ
            self.guard.refresh()

    def model_states(self) -> dict[tuple[str, str], str]:
        """{(model, version): state} from Triton's repository index (READY, UNAVAILABLE)."""
        request = urllib.request.Request(f"http://{self.admin_url}/v2/repository/index",
                                         data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            index = json.loads(response.read())
        return {(entry["name"], entry.get("version", "")): entry.get("state", "")
                for entry in index}

    def _watch(self, process, interval_s: float = 1.0, patience: int = 3) -> None:
        """A model version READY in Triton's index with fewer stubs than it had, for
        `patience` checks in a row, has lost one (a version being loaded or unloaded on
        purpose is not READY, and its count is taken afresh)."""
        expected, short = self.stubs(), Counter()
        while not self._stopping.wait(interval_s):
            if self.process is not process or process.poll() is not None:
                return  # this server is gone; a restarted one has its own watchdog
            try:
                live, states = self.stubs(), self.model_states()
            except (urllib.error.URLError, OSError, ValueError):
                continue  # busy or stopping: look again
            for key in set(expected) | set(live):
                if states.get(key) != "READY" or live[key] >= expected[key]:
                    expected[key], short[key] = live[key], 0
                    continue
                short[key] += 1
                if short[key] >= patience and not self._stopping.is_set():
                    model = key[0]
                    self._say(f"shoprank: a Python stub of model {model!r} (version {key[1]}) "
                              f"died; reloading it")
                    try:
                        self.reload(model)
                        self.reloads.append(model)
                    except ServerError as error:
                        self._say(f"shoprank: {error}")
                    short[key] = 0

    def _say(self, line: str) -> None:
        self.log_lines = (self.log_lines + [line])[-200:]
        if self.log:
            self.log(line)

    def tail(self, lines: int = 30) -> str:
        time.sleep(0.2)  # let the reader catch the last lines
        return "\n".join(self.log_lines[-lines:])

    def stop(self) -> int | None:
        """The guard first (it lets its open requests finish and closes its connections to
        Triton, which would otherwise wait for them); then SIGTERM, and past the exit timeout
        SIGKILL, to tritonserver's whole process group."""
        code = None
        self._stopping.set()
        self._remove_note()
        if self.guard is not None:
            self.guard.stop()
            self.guard = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=self.exit_timeout_s + 15)
            except subprocess.TimeoutExpired:
                code = None
            _kill_group(self.process.pid)
            if self.process.poll() is None:
                code = self.process.wait()
            if self._reader is not None:
                self._reader.join(timeout=5)
            self.process = None
        if self._workspace is not None:
            shutil.rmtree(self._workspace, ignore_errors=True)
            self._workspace = None
        return code

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _key_file(repo: Path, key_file) -> str | None:
    """The key file the repository's models need, checked to exist; None where they need
    none. A repository with pseudonymised ids and no key (here or in SHOPRANK_KEY_FILE)
    is refused before any model is loaded."""
    needs = [spec for spec in sorted(repo.glob("ranker/*/artifacts/ranker.json"))
             if "pseudonymised" in json.loads(spec.read_text())]
    key_file = key_file or os.environ.get(KEY_FILE_VARIABLE)
    if needs and not key_file:
        raise ServerError(f"{repo}: its models pseudonymise personal ids; give the key file "
                          f"they were made with (shoprank serve --key-file FILE, or "
                          f"{KEY_FILE_VARIABLE})")
    if key_file and not Path(key_file).is_file():
        raise FileNotFoundError(f"key file {key_file}: not found")
    return str(Path(key_file).resolve()) if key_file else None


def _environment(home: Path, key_file: str | None = None) -> dict:
    env = os.environ.copy()
    if key_file:  # the shoprank backend and Python-backend models read the key from there
        env[KEY_FILE_VARIABLE] = key_file
    libs = [str(home.parent.parent / "nvidia_pytriton.libs"), sysconfig.get_config_var("LIBDIR")]
    if env.get("LD_LIBRARY_PATH"):
        libs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(libs)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Every Python-backend model instance is a process with its own OpenMP pool, and the
    # server has one more for the C++ ranker: idle workers that spin take the cores from the
    # one request being served (ranker, 1,000 candidates, concurrency 1, 2 cores, runs
    # interleaved: p99 2.98-4.92 ms passive, 4.34-5.66 spinning; earlier, with the ranker in
    # a Python stub, 7.8-8.1 passive against 10.3-12.5).
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _stubs(server_pid: int, repo: Path) -> Counter:
    """Counts the server's Python-backend stubs by (model, version): a stub's first
    argument is its model's REPO/<model>/<version>/model.py."""
    models = Counter()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended while we looked
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent != server_pid or len(argv) < 2 or not argv[0].endswith(b"_stub"):
            continue
        model_py = Path(argv[1].decode(errors="replace"))
        if model_py.parent.parent.parent == repo and " Z " not in stat:
            models[(model_py.parent.parent.name, model_py.parent.name)] += 1
    return models


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when its parent dies, however it dies (Linux), so
    a killed owner does not leave a server running."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: stop() and the process group remain
        pass


def _kill_group(pid: int) -> None:
    """The stubs too: they are the server's children, in its process group."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def exit_reason(code: int | None) -> str:
    """Why a process ended, in words, from its return code."""
    if code is None or code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"killed by signal {-code}"
    why = {"SIGKILL": "kill -9, or the kernel's out-of-memory killer",
           "SIGABRT": "it aborted on a fatal error", "SIGSEGV": "it crashed"}.get(name)
    return f"killed by {name}" + (f" ({why})" if why else "")


def supervise(server: TritonServer, say, *, max_restarts: int = 5, window_s: float = 300.0,
              ready_timeout_s: float = 120) -> None:
    """Waits on tritonserver and starts it again whenever it exits by itself (aborted,
    killed, crashed), saying why; returns once the server is stopped on purpose, and raises
    ServerError once it has exited more than max_restarts times within window_s seconds
    (something is wrong that a restart does not mend)."""
    exits: list[float] = []
    while True:
        code = server.process.wait()
        if server._stopping.is_set():  # stopped on purpose
            return
        now = time.monotonic()
        exits = [t for t in exits if now - t < window_s] + [now]
        reason = exit_reason(code)
        if len(exits) > max_restarts:
            raise ServerError(f"tritonserver {reason}; it exited {len(exits)} times in "
                              f"{window_s:.0f} s: giving up. Its last log lines:\n"
                              + server.tail())
        say(f"shoprank serve: tritonserver {reason}; restarting it "
            f"({len(exits)} of at most {max_restarts} restarts in {window_s:.0f} s)")
        seconds = server.restart(ready_timeout_s)
        say(f"shoprank serve: ready again after {seconds:.1f} s")
