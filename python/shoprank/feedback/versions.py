"""Model versions in a Triton repository: a new one added and loaded, the newest one rolled
back, while the server answers.

Every model shoprank writes (the steps, the ensemble, the recommend chain; not ``events``,
whose log outlives versions) holds one folder per version, and Triton serves the newest
(its default policy). A version is added by export_triton beside the served one, with the
options the repository was written with (REPO/shoprank-repository.json), then each model is
loaded in place (explicit model control): Triton loads the new version before it unloads the
old, so requests meet no gap. Rolling back moves the newest version's folders out of the
repository (to REPO.rolled-back/<version>/, kept for a look) and loads the models again:
the version before is then the newest. The running server is found through the note it
keeps in the repository (REPO/shoprank-serving.json, server.py); with none running, the
next `shoprank serve` serves what the repository holds.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from shoprank.serving.repository import read_options
from shoprank.serving.server import SERVING_NOTE, model_control

# repository.STEPS and RECOMMEND_STEPS in load order (a step before the ensemble calling
# it), and the real-time state's observe step and the event log's writer calling it
VERSIONED = ("transform", "score", "select", "ranker", "retrieve", "score_candidates",
             "rerank", "ensemble", "recommend", "observe", "events")


def versions(repo) -> list[int]:
    """The versions every shoprank model of the repository holds, oldest first."""
    repo = Path(repo)
    if not (repo / "ranker").is_dir():
        raise ValueError(f"{repo}: not a model repository of shoprank export-triton "
                         "(no ranker/)")
    return sorted(int(p.name) for p in (repo / "ranker").iterdir() if p.name.isdigit())


def install_version(repo, artifacts, *, admin_url: str | None = None, say=print) -> int:
    """Adds the artifacts as the repository's next version and loads it into the running
    server (``admin_url``, else the one the repository's note names, else none). Returns the
    version."""
    from shoprank.serving.repository import export_triton

    repo = Path(repo)
    version = versions(repo)[-1] + 1
    export_triton(artifacts, repo, read_options(repo), version=version)
    say(f"version {version} written to {repo}")
    _load_all(repo, admin_url, say)
    return version


def rollback(repo, *, admin_url: str | None = None, say=print) -> dict:
    """Takes the newest version out of the repository and serves the one before it."""
    repo = Path(repo)
    held = versions(repo)
    if len(held) < 2:
        raise ValueError(f"{repo} holds only version {held[-1] if held else None}: there is "
                         "no earlier version to roll back to")
    newest = held[-1]
    aside = repo.parent / f"{repo.name}.rolled-back" / f"{newest}-{int(time.time())}"
    aside.mkdir(parents=True)
    moved = []
    for model in VERSIONED:
        folder = repo / model / str(newest)
        if folder.is_dir():
            shutil.move(str(folder), str(aside / model))
            moved.append(model)
    say(f"version {newest} moved to {aside}; version {held[-2]} is the newest")
    _load_all(repo, admin_url, say)
    return {"rolled_back": newest, "serving": held[-2], "kept_in": str(aside), "models": moved}


def running_admin_url(repo) -> str | None:
    """The model-control URL of the server serving ``repo`` (its note), if it is up."""
    note = Path(repo) / SERVING_NOTE
    try:
        url = json.loads(note.read_text())["admin_url"]
        with urllib.request.urlopen(f"http://{url}/v2/health/live", timeout=5):
            return url
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


def _load_all(repo: Path, admin_url: str | None, say) -> None:
    url = admin_url or running_admin_url(repo)
    if url is None:
        say("no running server found for this repository: the next shoprank serve serves "
            "its newest version")
        return
    for model in VERSIONED:
        if (repo / model).is_dir():
            model_control(url, model, "load")
    say(f"loaded into the server at {url}")
