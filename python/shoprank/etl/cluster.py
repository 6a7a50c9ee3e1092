"""Where the ETL computes: this process (Dask's local scheduler), a LocalCluster of N
worker processes, or an existing Dask cluster at a scheduler address."""

from __future__ import annotations

import contextlib


def choose_device(device: str) -> bool:
    """True for the CPU (pandas), False for the GPU (cuDF). 'auto' takes the GPU when RAPIDS
    cuDF is installed and sees a device."""
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"--device: expected auto, cpu or gpu, got {device!r}")
    if device == "cpu":
        return True
    from merlin.core.compat import cudf

    if cudf is None:
        if device == "gpu":
            raise RuntimeError("--device gpu needs RAPIDS cuDF (and dask_cudf), which is not "
                               "installed here; use --device cpu")
        return True
    return False


@contextlib.contextmanager
def dask_cluster(*, workers: int | None, scheduler: str | None, cpu: bool, say=print):
    """Makes Merlin/NVTabular run on a Dask cluster for the duration of the block."""
    if not workers and not scheduler:
        yield None
        return
    from distributed import Client
    from merlin.core.utils import set_dask_client

    cluster = None
    if scheduler:
        client = Client(scheduler)
        say(f"Dask: connected to {scheduler} ({len(client.scheduler_info()['workers'])} workers)")
    else:
        if workers < 1:
            raise ValueError(f"--workers: must be >= 1, got {workers}")
        if cpu:
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
        else:
            from dask_cuda import LocalCUDACluster

            cluster = LocalCUDACluster(n_workers=workers, dashboard_address=None)
        client = Client(cluster)
        say(f"Dask: LocalCluster with {workers} worker processes")
    set_dask_client(client)
    try:
        yield client
    finally:
        set_dask_client(None)
        client.close()
        if cluster is not None:
            cluster.close()
