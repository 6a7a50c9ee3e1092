"""Make a key file for pseudonymised ids (etl --key-file, serve --key-file).

Writes 32 random bytes as 64 hex characters (and a newline) to FILE, readable by its owner
only; refuses to replace an existing file (a new key gives every id a new pseudonym: the
artifacts made with the old one would no longer match). Keep the key apart from the data
and the artifacts: whoever holds both can test guesses of an id against its pseudonym.
"""

from __future__ import annotations

import argparse
import os
import secrets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="where to write the key (must not exist)")


def run(args: argparse.Namespace, say) -> dict:
    # O_EXCL: never replaces a key; mode 0600 from the start, not chmod after writing
    fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    say(f"wrote a new key to {args.file} (owner read/write only)")
    return {"key_file": args.file}
