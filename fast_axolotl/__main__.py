"""The ``fast-axolotl`` command (also ``python -m fast_axolotl``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import FastAxolotlError

SAMPLE = Path(__file__).parent / "data" / "sample_chat.jsonl.gz"


def _info(_: argparse.Namespace) -> int:
    import fast_axolotl as fa

    try:
        from importlib.metadata import version

        axolotl_version = version("axolotl")
    except Exception:
        axolotl_version = "not installed"
    print(f"fast-axolotl {fa.__version__}")
    print(f"implementation: {fa.IMPLEMENTATION} ({fa.backend_reason()})")
    print(f"threads: {fa.thread_count()}")
    print(f"formats: {', '.join(fa.list_supported_formats())}")
    print(f"axolotl: {axolotl_version}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import fast_axolotl as fa

    start = time.perf_counter()
    inputs = args.inputs or [str(SAMPLE)]
    if not args.inputs:
        print(f"no INPUT given: using the bundled sample dataset {SAMPLE.name} (tokenized chat rows, some duplicated)")
    tables = [fa.read_table(path, columns=args.columns) for path in inputs]
    try:
        table = pa.concat_tables(tables)
    except pa.ArrowInvalid as exc:
        raise fa.errors.InvalidArgumentError(f"the inputs have different schemas: {exc}") from None
    rows_in = table.num_rows
    print(f"read {rows_in} rows, {table.num_columns} columns from {len(inputs)} input(s)")
    if args.dedupe:
        table, _ = fa.deduplicate(table)
        print(f"deduplicated: {rows_in - table.num_rows} duplicate rows removed, {table.num_rows} kept")
    tokens = 0
    if args.pack is not None:
        if "input_ids" not in table.column_names:
            raise fa.errors.InvalidArgumentError("--pack needs an input_ids column")
        ids = table.column("input_ids")
        packed = fa.pack_sequences(
            ids, args.pack, args.pad_token_id, args.eos_token_id, overflow=args.overflow, return_position_ids=True
        )
        rows = packed["input_ids"]
        tokens = int(packed["attention_mask"].sum())
        width = rows.shape[1]
        table = pa.table(
            {
                key: pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), width)
                for key, value in packed.items()
            }
        )
        cells = rows.size or 1
        print(f"packed into {rows.shape[0]} rows of {width} tokens; efficiency {tokens / cells:.1%}")
    pq.write_table(table, args.output)
    elapsed = time.perf_counter() - start
    rate = f", {tokens / elapsed:,.0f} tokens/s" if tokens else ""
    print(f"wrote {table.num_rows} rows to {args.output} in {elapsed:.2f}s ({rows_in / elapsed:,.0f} rows/s{rate})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fast-axolotl", description="Fast, exact data preparation for Axolotl.")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="version, implementation, threads, formats, Axolotl version")
    info.set_defaults(run=_info)
    prepare = commands.add_parser("prepare", help="read, deduplicate and pack datasets into a Parquet file")
    prepare.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="files, directories or globs (default: a bundled sample dataset)"
    )
    prepare.add_argument("-o", "--output", required=True, help="Parquet file to write")
    prepare.add_argument("--columns", nargs="+", help="columns to keep (default: all)")
    prepare.add_argument("--dedupe", action="store_true", help="drop exact duplicate rows (Axolotl semantics)")
    prepare.add_argument("--pack", type=int, metavar="MAX_LEN", help="pack input_ids into rows of MAX_LEN tokens")
    prepare.add_argument("--pad-token-id", type=int, default=0)
    prepare.add_argument("--eos-token-id", type=int, default=2)
    prepare.add_argument("--overflow", choices=["truncate", "split", "error"], default="truncate")
    prepare.set_defaults(run=_prepare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args: Any = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (FastAxolotlError, OSError) as exc:
        print(f"fast-axolotl: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
