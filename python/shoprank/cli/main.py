"""``shoprank``: one command with subcommands.

Every subcommand prints a human summary (on stdout; on stderr with ``--json``) and, with
``--json``, one JSON object of its results on stdout. Any failure exits non-zero with a
one-line reason.
"""

from __future__ import annotations

import argparse
import json
import sys

from shoprank.cli import demo, etl, evaluate, export, export_triton, generate, query, serve, train

# name -> module with `add_arguments(parser)`, `run(args, say) -> dict` and a docstring
SUBCOMMANDS = {"demo": demo, "generate": generate, "etl": etl, "train": train,
               "evaluate": evaluate, "export": export, "export-triton": export_triton,
               "serve": serve, "query": query}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoprank",
        description="GPU feature and ranking engine for e-commerce recommendation.",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in SUBCOMMANDS.items():
        summary, _, details = (module.__doc__ or "").strip().partition("\n")
        sub = commands.add_parser(name, help=summary, description=(summary + "\n" + details).strip(),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--json", action="store_true",
                         help="print one JSON object of the results on stdout")
        module.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    human = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=human, flush=True)

    try:
        result = SUBCOMMANDS[args.command].run(args, say)
    except KeyboardInterrupt:
        print(f"shoprank {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line, not a traceback: the reason is the message
        print(f"shoprank {args.command}: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, default=str))
    return 0


def _version() -> str:
    from shoprank import __version__

    return f"shoprank {__version__}"


if __name__ == "__main__":
    sys.exit(main())
