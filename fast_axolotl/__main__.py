"""The ``fast-axolotl`` command (also ``python -m fast_axolotl``).

Every failure the user can cause (bad arguments, missing or malformed files) ends as
one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from ._cli.progress import Progress
from ._cli.writing import FORMATS

EXAMPLES = """\
examples:
  fast-axolotl prepare                                   # the bundled sample: see it work
  fast-axolotl prepare train.jsonl.zst --dedupe --pack 2048 -o prepared.parquet
  fast-axolotl prepare data/ --dedupe --multipack 4096 -o prepared/   # HF save_to_disk folder
  fast-axolotl prepare --ray auto shards/ --dedupe --pack 2048 -o prepared/   # on a Ray cluster
  fast-axolotl prepare axolotl.yml      # the config's datasets, as `axolotl preprocess` prepares them
  fast-axolotl bench --quick
  fast-axolotl info
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument on ONE stderr line (exit 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _column_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected column names separated by commas")
    return names


def _info(_: argparse.Namespace) -> int:
    import fast_axolotl as fa
    from fast_axolotl import integration

    try:
        from importlib.metadata import version

        axolotl_version = version("axolotl")
    except Exception:
        axolotl_version = "not installed"
    print(f"fast-axolotl {fa.__version__}")
    print(f"implementation: {fa.IMPLEMENTATION} ({fa.backend_reason()})")
    print(f"threads: {fa.thread_count()}")
    from .reading import FORMATS as READ_FORMATS  # list_supported_formats() also holds 0.2.0's combinations

    print(f"formats: {', '.join(READ_FORMATS)} (each also .gz / .zst)")
    print(f"axolotl: {axolotl_version}")
    state = integration.report()
    if state["disabled"]:
        print("axolotl patches: disabled (FAST_AXOLOTL_DISABLE)")
    else:
        print(f"axolotl patches: groups {', '.join(state['groups']) or 'none'}")
        print(f"  active: {', '.join(state['patched']) or 'none'}")
        print(f"  waiting for Axolotl's modules to be imported: {', '.join(state['pending']) or 'none'}")
        for target, why in state["skipped"].items():
            print(f"  left alone: {target} ({why})")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from ._cli import prepare

    args.columns = [name for group in args.columns for name in group] if args.columns else None
    return prepare.run(args)


def _bench(args: argparse.Namespace) -> int:
    from .bench import run

    return run(quick=args.quick, markdown=args.markdown, progress=Progress(args.quiet))


def _add_prepare(commands: Any) -> None:
    prepare = commands.add_parser(
        "prepare",
        help="read, deduplicate and pack datasets; write Parquet, Arrow or an HF save_to_disk folder",
        description="Stream INPUT file(s), drop exact duplicate rows, pack, write, and print a summary "
        "(rows in/out, duplicates removed, packing efficiency, tokens per second).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prepare.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="files, directories or globs (default: the bundled sample dataset), or one Axolotl config "
        "(.yml/.yaml): its datasets prepared as `axolotl preprocess` would, into its dataset_prepared_path",
    )
    prepare.add_argument(
        "-o", "--output", metavar="OUT", help="where to write: .parquet, .arrow/.feather, or a folder (dir/)"
    )
    prepare.add_argument("--format", choices=FORMATS, help="output format (default: from OUT; hf = save_to_disk)")
    prepare.add_argument(
        "--columns", type=_column_list, action="append", metavar="COL[,COL...]", help="columns to keep (default: all)"
    )
    prepare.add_argument("--dedupe", action="store_true", help="drop exact duplicate rows (Axolotl's semantics)")
    packing = prepare.add_mutually_exclusive_group()
    packing.add_argument(
        "--pack", type=_positive, metavar="MAX_LEN", help="concatenate input_ids into rows of exactly MAX_LEN tokens"
    )
    packing.add_argument(
        "--multipack",
        type=_positive,
        metavar="CAP",
        help="first-fit bins of at most CAP tokens (Axolotl's multipack); one row per bin",
    )
    prepare.add_argument("--pad-token-id", type=int, default=0, metavar="ID", help="--pack: the pad token (default 0)")
    prepare.add_argument("--eos-token-id", type=int, default=2, metavar="ID", help="--pack: the EOS token (default 2)")
    prepare.add_argument(
        "--overflow",
        choices=["truncate", "split", "error"],
        default="truncate",
        help="--pack: samples over MAX_LEN-2 tokens (default truncate)",
    )
    prepare.add_argument(
        "--bin-size",
        type=_positive,
        default=200,
        metavar="N",
        help="--multipack: samples per bin at most (default 200)",
    )
    prepare.add_argument(
        "--group-size",
        type=_positive,
        default=100_000,
        metavar="N",
        help="--multipack: rows packed per group (default 100000)",
    )
    prepare.add_argument(
        "--batch-rows",
        type=_positive,
        metavar="N",
        help="--pack: pack each batch of N rows on its own, as Axolotl's streaming packing "
        "(default: all rows together; 100000 with --ray)",
    )
    prepare.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run on a Ray cluster (auto: the running one; local: start one here; HOST:PORT or ray://...); "
        "writes Parquet shards to -o OUT/ (needs fast-axolotl[ray])",
    )
    prepare.add_argument("-q", "--quiet", action="store_true", help="no progress bars, no summary")
    prepare.set_defaults(run=_prepare)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fast-axolotl",
        description="Fast, exact data preparation for Axolotl (native Rust, with a pure-Python reference).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    info = commands.add_parser("info", help="version, implementation and why, threads, formats, Axolotl and patches")
    info.set_defaults(run=_info)
    _add_prepare(commands)
    bench = commands.add_parser(
        "bench",
        help="time native vs reference vs the usual tools (pyarrow, datasets, numpy, Axolotl)",
        description="Benchmark every operation on synthetic data: the native backend, the pure-Python "
        "reference, and what users would run instead. Prints a table with the machine and versions.",
    )
    bench.add_argument("--quick", action="store_true", help="small sizes, finishes in well under a minute")
    bench.add_argument(
        "--markdown",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the Markdown table to FILE (default: stdout), as the README shows it",
    )
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args: Any = _parser().parse_args(argv)
    import pyarrow as pa

    from .errors import FastAxolotlError

    try:
        return int(args.run(args))
    except (FastAxolotlError, OSError, ValueError, pa.ArrowException, ImportError) as exc:
        print(f"fast-axolotl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fast-axolotl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
