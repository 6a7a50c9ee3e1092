"""``shoprank``: one command with subcommands.

Every subcommand prints a human summary (on stdout; on stderr with ``--json``) and, with
``--json``, one JSON object of its results on stdout. Any failure exits non-zero with a
one-line reason; ``--debug`` (or SHOPRANK_DEBUG=1) prints the traceback too and keeps the
libraries' own warnings, which are silenced otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from shoprank.cli import (demo, distill, etl, evaluate, export, export_triton, generate,
                          keygen, query, recommend, refresh, rollback, serve, train, tune)

# name -> module with `add_arguments(parser)`, `run(args, say) -> dict` and a docstring
SUBCOMMANDS = {"demo": demo, "generate": generate, "etl": etl, "train": train, "tune": tune,
               "distill": distill,
               "evaluate": evaluate, "export": export, "export-triton": export_triton,
               "serve": serve, "query": query, "recommend": recommend, "refresh": refresh,
               "rollback": rollback, "keygen": keygen}


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
                                  formatter_class=HelpFormatter)
        sub.add_argument("--json", action="store_true",
                         help="print one JSON object of the results on stdout")
        sub.add_argument("--debug", action="store_true",
                         help="on failure print the traceback, and show the libraries' "
                              "warnings (also: environment variable SHOPRANK_DEBUG=1)")
        module.add_arguments(sub)
    return parser


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and shows every option's default."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        shown = not any(action.default is x for x in (None, False, argparse.SUPPRESS))
        if shown and action.option_strings and "default" not in help_text:
            help_text += " (default: %(default)s)"
        return help_text


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("SHOPRANK_DEBUG", "") not in ("", "0")
    if not debug:
        from shoprank.cli.quiet import quiet_libraries

        quiet_libraries()
    human = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=human, flush=True)

    try:
        result = SUBCOMMANDS[args.command].run(args, say)
    except KeyboardInterrupt:
        print(f"shoprank {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line, not a traceback: the reason is the message
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (--debug shows the traceback)"
        print(f"shoprank {args.command}: error: {type(error).__name__}: {error}{hint}",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, default=str))
    return 0


def _version() -> str:
    from shoprank import __version__

    return f"shoprank {__version__}"


if __name__ == "__main__":
    sys.exit(main())
