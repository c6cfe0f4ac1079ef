"""Axolotl 0.21's prompt strategies for whole tables: raw rows in, token columns out.

- pre-tokenized (``input_ids``, ``attention_mask`` and ``labels`` all present, whatever
  the ``type``): the table passes through untouched (``get_dataset_wrapper``).
- ``completion``: ``row[field]`` tokenized with truncation to 64 x sequence_len, the EOS
  rule, labels a copy of the ids, then every column cut into ``sequence_len`` chunks.
- ``alpaca`` (styles instruct, chat, chatml, phi): the prompter's user text and the
  output tokenized apart (each truncated to sequence_len), a leading BOS stripped from
  the output after the EOS rule; labels -100 over the prompt unless ``train_on_inputs``.
- ``chat_template``: messages rendered with the chat template, trainable turns located
  by sentinel re-renders (:mod:`fast_axolotl.prepare._chat`).

The EOS rule (``PromptTokenizingStrategy._tokenize``): EOS is appended when the ids are
not empty, do not end with EOS and are shorter than the truncation length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from ..errors import UnsupportedConfigError
from ._config import DatasetSpec, PrepConfig
from ._ragged import Ragged, join_rows
from ._tokenizer import BulkTokenizer

IGNORE_INDEX = -100
TOKEN_COLUMNS = ("input_ids", "attention_mask", "labels")

SYSTEM = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)
SYSTEM_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)


@dataclass(frozen=True)
class AlpacaStyle:
    """``AlpacaPrompter``'s formats for one prompt style."""

    system: str
    turn: str
    turn_no_input: str


ALPACA_STYLES = {
    "instruct": AlpacaStyle(
        "{system}\n\n",
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
        "### Instruction:\n{instruction}\n\n### Response:\n",
    ),
    "chat": AlpacaStyle(
        "SYSTEM: {system}\n", "USER: {instruction}\n{input}\nASSISTANT:", "USER: {instruction}\nASSISTANT:"
    ),
    "chatml": AlpacaStyle(
        "<|im_start|>system\n{system}<|im_end|>\n",
        "<|im_start|>user\n{instruction}\n{input}<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n",
    ),
    "phi": AlpacaStyle(
        "<|system|>\n{system}<|end|>\n",
        "<|user|>\n{instruction}<|end|>{input}<|assistant|>",
        "<|user|>\n{instruction}<|end|>\n<|assistant|>\n",
    ),
}


@dataclass(frozen=True)
class Tokenized:
    input_ids: Ragged
    labels: Ragged
    #: the order of the strategy's output dict (becomes the column order)
    columns: tuple[str, ...] = ("input_ids", "attention_mask", "labels")

    def table(self) -> pa.Table:
        """The columns as ``datasets.map`` writes a strategy's lists: its ArrowWriter
        narrows ``input_ids`` to int32 and ``attention_mask`` to int8 (by column name)."""
        arrays = {
            "input_ids": self.input_ids.to_arrow(pa.int32()),
            "attention_mask": self.input_ids.like(1).to_arrow(pa.int8()),
            "labels": self.labels.to_arrow(),
        }
        return pa.table({name: arrays[name] for name in self.columns})


def is_pretokenized(table: pa.Table) -> bool:
    return all(name in table.column_names for name in TOKEN_COLUMNS)


def _strings(table: pa.Table, name: str, spec: DatasetSpec) -> list[str | None]:
    if name not in table.column_names:
        raise UnsupportedConfigError(
            f"{spec.key}.path", f"{spec.path} has no column {name!r} (Axolotl raises KeyError)"
        )
    column = table.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or pa.types.is_null(column.type)):
        raise UnsupportedConfigError(
            f"{spec.key}.path", f"column {name!r} of {spec.path} holds {column.type}, not text"
        )
    return column.to_pylist()  # type: ignore[no-any-return]


def eos_rule(ids: Ragged, eos: int, max_length: int) -> Ragged:
    lengths = ids.lengths
    return ids.append_where((lengths > 0) & (ids.last(eos) != eos) & (lengths < max_length), eos)


def completion(
    table: pa.Table, spec: DatasetSpec, cfg: PrepConfig, tok: BulkTokenizer, progress: Callable[[int], None]
) -> Tokenized:
    texts = _strings(table, spec.field, spec)
    max_length = cfg.sequence_len * 64
    ids = eos_rule(tok.encode(texts, max_length, progress), tok.eos_token_id, max_length)
    chunks = ids.chunked(cfg.sequence_len)
    return Tokenized(chunks, chunks)


def _alpaca_prompts(instructions: list[str | None], inputs: list[str | None], style: AlpacaStyle) -> list[str | None]:
    with_input = style.system.format(system=SYSTEM) + style.turn
    without_input = style.system.format(system=SYSTEM_NO_INPUT) + style.turn_no_input
    return [
        with_input.format(instruction=instruction, input=text)
        if text
        else without_input.format(instruction=instruction)
        for instruction, text in zip(instructions, inputs, strict=True)
    ]


def alpaca(
    table: pa.Table, spec: DatasetSpec, cfg: PrepConfig, tok: BulkTokenizer, progress: Callable[[int], None]
) -> Tokenized:
    instructions = _strings(table, "instruction", spec)
    inputs: list[str | None] = (
        _strings(table, "input", spec) if "input" in table.column_names else [""] * table.num_rows
    )
    outputs = _strings(table, "output", spec)
    prompts = _alpaca_prompts(instructions, inputs, ALPACA_STYLES[spec.style or "instruct"])
    length = cfg.sequence_len
    user = tok.encode(prompts, length, progress)
    response = eos_rule(tok.encode(outputs, length, progress), tok.eos_token_id, length)
    if tok.bos_token_id is not None:
        # -1 never equals a token id: an empty response keeps nothing to strip
        response = response.drop_first_where(response.first(-1) == tok.bos_token_id)
    input_ids = join_rows(user, response)
    labels = input_ids if cfg.train_on_inputs else join_rows(user.like(IGNORE_INDEX), response)
    return Tokenized(input_ids, labels)


def chat_template(
    table: pa.Table, spec: DatasetSpec, cfg: PrepConfig, tok: BulkTokenizer, progress: Callable[[int], None]
) -> Tokenized:
    from ._chat import chat_template as run_chat_template

    input_ids, labels = run_chat_template(table, spec, cfg, tok, progress)
    return Tokenized(input_ids, labels, ("input_ids", "labels", "attention_mask"))


STRATEGIES = {"completion": completion, "alpaca": alpaca, "chat_template": chat_template}


def texts_per_row(spec: DatasetSpec) -> int:
    """Tokenizer calls per raw row (for progress totals)."""
    return 2 if spec.base_type == "alpaca" else 1


def tokenize(
    table: pa.Table, spec: DatasetSpec, cfg: PrepConfig, tok: BulkTokenizer, progress: Callable[[int], None]
) -> pa.Table:
    if is_pretokenized(table):
        return table
    return STRATEGIES[spec.base_type](table, spec, cfg, tok, progress).table()
