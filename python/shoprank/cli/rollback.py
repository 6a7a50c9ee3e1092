"""Serve the version before the newest one of a model repository.

Moves the newest version's folders out of the repository (to REPO.rolled-back/, kept) and
loads the models again in the server serving it, which then serves the version before
(explicit model control: no request meets a gap). The event log is left as it is.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, help="the model repository")


def run(args: argparse.Namespace, say) -> dict:
    from shoprank.feedback.versions import rollback

    return rollback(args.repo, say=say)
