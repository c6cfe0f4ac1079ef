"""Axolotl 0.21's ``chat_template`` type for whole tables.

Per row, Axolotl (``ChatTemplateStrategy._tokenize_single_prompt``, fast tokenizer):

1. builds the turns (``get_conversation_thread``: message properties mapped, roles
   renamed, a ``system`` column prepended as a system turn, ``drop_system_message``);
2. renders them with the chat template (``apply_chat_template``, no generation prompt)
   and tokenizes the text without special tokens: ``input_ids``; the same render
   tokenized with offsets is the *locator*;
3. for every turn it must locate (a trainable one: ``train_on_inputs`` or a role in
   ``roles_to_train``; every turn when ``train_on_eos``/``train_on_eot`` is ``all``)
   re-renders the conversation twice with that turn's content replaced by a sentinel
   (``[[dummy_message]]``, ``zzdummymessagezz``); the characters that differ from the
   real render (the widest of the two diffs) are the turn's span, mapped to tokens by
   bisecting the offsets (``bisect_right`` on ends, ``bisect_left`` on starts);
4. labels are -100 except the trainable spans, and the first EOT / EOS token at most 3
   tokens after a located turn (``train_on_eot``/``train_on_eos``: ``turn``, ``all``,
   ``last``, ``none``).

Here the same steps run over all rows at once: every render is one batched
``apply_chat_template(tokenize=False)`` call (transformers' own Jinja environment), every
distinct rendered text is tokenized once in bulk with offsets, and the spans, labels and
EOS positions are numpy operations over the flat token arrays.

What is not reproduced is refused (UnsupportedConfigError): message properties beyond the
mapped ones (Axolotl keeps those the template reads, by analysing the template), list
contents (``training_detail``), ``message_field_training*``, ``split_thinking``, the
legacy path (``roles_to_train: []`` with no EOS training), and a turn the locator cannot
place (Axolotl's token-diff fallback).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ..errors import UnsupportedConfigError
from ._ragged import Ragged

IGNORE_INDEX = -100
SENTINELS = ("[[dummy_message]]", "zzdummymessagezz")
#: How far after a turn's end an EOT / EOS token still belongs to it (Axolotl's "template padding").
EOS_REACH = 3
#: The columns of a row that Axolotl's prompt reads besides the messages.
SYSTEM_COLUMN = "system"
TOOLS_COLUMN = "tools"
DEFAULT_ROLES = {
    "human": "user",
    "user": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "system": "system",
    "tool": "tool",
}
EOS_OPTIONS = ("all", "turn", "last", "none")
#: Rendered conversations per ``apply_chat_template`` call.
RENDER_BATCH = 1024


@dataclass(frozen=True)
class ChatOptions:
    """The keys of one ``type: chat_template`` entry, with Axolotl's defaults."""

    choice: str  # tokenizer_default, jinja, a named template, tokenizer_default_fallback_<name>
    jinja: str | None
    field_messages: str
    mappings: tuple[tuple[str, str], ...]  # (turn key, message key)
    roles: tuple[tuple[str, str], ...]  # (source role, role)
    roles_to_train: tuple[str, ...]
    train_on_eos: str | None
    train_on_eot: str | None
    drop_system_message: bool


def _choice(value: Any) -> str | None:
    value = getattr(value, "value", value)  # Axolotl's ChatTemplate enum
    return value if isinstance(value, str) and value else None


def chat_options(entry: Mapping[str, Any], key: str) -> ChatOptions:
    """A ``datasets:`` entry of type chat_template, as Axolotl's validation and
    ``StrategyLoader`` read it."""
    jinja = entry.get("chat_template_jinja")
    choice = _choice(entry.get("chat_template")) or ("jinja" if jinja else "tokenizer_default")
    if choice == "jinja" and not jinja:
        raise UnsupportedConfigError(f"{key}.chat_template_jinja", "required with chat_template: jinja")
    mappings = dict(entry.get("message_property_mappings") or {})
    for legacy, name in (("message_field_role", "role"), ("message_field_content", "content")):
        if entry.get(legacy):
            mappings[name] = entry[legacy]
    mappings.setdefault("role", "role")
    mappings.setdefault("content", "content")
    roles_given = entry.get("roles")
    if roles_given:
        roles = {source: target for target, sources in roles_given.items() for source in sources}
    else:
        roles = dict(DEFAULT_ROLES)
    roles_to_train = entry.get("roles_to_train")
    roles_to_train = ["assistant"] if roles_to_train is None else list(roles_to_train)
    train_on_eos = entry.get("train_on_eos")
    train_on_eos = "turn" if train_on_eos is None else train_on_eos
    train_on_eot = entry.get("train_on_eot")
    for name, value in (("train_on_eos", train_on_eos), ("train_on_eot", train_on_eot)):
        if value is not None and value not in EOS_OPTIONS:
            raise UnsupportedConfigError(f"{key}.{name}", repr(value))
    if not roles_to_train and not train_on_eos and not train_on_eot:
        raise UnsupportedConfigError(f"{key}.roles_to_train", "the legacy path (no roles and no EOS training)")
    return ChatOptions(
        choice=choice,
        jinja=jinja,
        field_messages=entry.get("field_messages") or "messages",
        mappings=tuple(mappings.items()),
        roles=tuple(roles.items()),
        roles_to_train=tuple(roles.get(role, role) for role in roles_to_train),
        train_on_eos=train_on_eos,
        train_on_eot=train_on_eot,
        drop_system_message=bool(entry.get("drop_system_message")),
    )


# --- templates ---------------------------------------------------------------------------


def _named_template(name: str, key: str) -> str:
    """Axolotl's named template, read from the installed Axolotl's template files (found
    without importing Axolotl, which imports torch)."""
    spec = importlib.util.find_spec("axolotl")
    if spec is None or not spec.submodule_search_locations:
        raise UnsupportedConfigError(key, f"the named template {name!r} comes with Axolotl, which is not installed")
    for root in spec.submodule_search_locations:
        path = Path(root) / "utils" / "chat_templates" / "templates" / f"{name}.jinja"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise UnsupportedConfigError(key, f"no chat template named {name!r} in Axolotl")


def resolve_template(choice: str, jinja: str | None, tokenizer: Any, key: str) -> str:
    """``axolotl.utils.chat_templates.get_chat_template``."""
    if choice == "jinja":
        if not jinja:
            raise UnsupportedConfigError(f"{key}_jinja", "required with chat_template: jinja")
        if os.path.isfile(jinja):
            return Path(jinja).read_text(encoding="utf-8")
        return jinja
    fallback_prefix = "tokenizer_default_fallback_"
    if choice == "tokenizer_default" or choice.startswith(fallback_prefix):
        template = getattr(tokenizer, "chat_template", None)
        if template:
            if not isinstance(template, str):
                raise UnsupportedConfigError(key, "the tokenizer holds several named chat templates")
            return template
        if choice == "tokenizer_default":
            raise UnsupportedConfigError(key, "tokenizer_default, but the tokenizer has no chat template")
        choice = choice[len(fallback_prefix) :]
    return _named_template(choice, key)


def apply_config_template(tokenizer: Any, cfg: Mapping[str, Any]) -> None:
    """``load_tokenizer``: a top-level ``chat_template`` replaces the tokenizer's (with
    ``default_system_message`` written into chatml's)."""
    choice = _choice(cfg.get("chat_template"))
    if not choice:
        return
    template = resolve_template(choice, cfg.get("chat_template_jinja"), tokenizer, "chat_template")
    if cfg.get("default_system_message") and choice == "chatml":
        template = template.replace("You are a helpful assistant.", cfg["default_system_message"])
    tokenizer.chat_template = template


# --- turns ---------------------------------------------------------------------------------


def remove_none_values(value: Any) -> Any:
    """Axolotl's ``remove_none_values``: the null fields Arrow's struct union adds."""
    if isinstance(value, Mapping):
        return {k: remove_none_values(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [remove_none_values(v) for v in value]
    return value


class _Rows:
    """Builds every row's turns as ``get_conversation_thread`` does."""

    def __init__(self, options: ChatOptions, where: str) -> None:
        self.options = options
        self.where = where
        self.roles = dict(options.roles)
        self.sources = {source for _, source in options.mappings}

    def _refuse(self, row: int, reason: str) -> UnsupportedConfigError:
        return UnsupportedConfigError(f"{self.where}.path", f"row {row}: {reason}")

    def transform(self, message: Any, row: int) -> dict[str, Any]:
        if not isinstance(message, Mapping):
            raise self._refuse(row, f"a message is {type(message).__name__}, not a mapping")
        turn = {}
        for name, source in self.options.mappings:
            if message.get(source) is not None:
                turn[name] = message[source]
        if "role" in turn:
            turn["role"] = self.roles.get(turn["role"], turn["role"])
        extra = sorted(k for k in message if k not in self.sources and message[k] is not None)
        if extra:
            raise self._refuse(
                row, f"message properties {extra} (Axolotl keeps those its template reads; not reproduced)"
            )
        for name, value in turn.items():
            if name != "role" and not isinstance(value, str):
                raise self._refuse(row, f"message {name!r} is {type(value).__name__}, not text")
        return turn

    def turns(self, messages: Any, system: tuple[bool, Any], row: int) -> list[dict[str, Any]]:
        if messages is None:
            raise self._refuse(row, f"{self.options.field_messages!r} is null")
        if isinstance(messages, str):
            try:
                messages = json.loads(messages)
            except ValueError as exc:
                raise self._refuse(row, f"messages are not JSON ({exc})") from None
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise self._refuse(row, "JSON messages are not a list of objects")
        if not isinstance(messages, list) or not messages:
            raise self._refuse(row, "no messages")
        turns = []
        first = self.transform(messages[0], row)
        if "role" not in first:
            raise self._refuse(row, "the first message has no role")
        has_system, system_value = system
        if first["role"] != "system" and has_system:
            turns.append({"role": "system", "content": system_value})
        turns.extend(self.transform(message, row) for message in messages)
        if self.options.drop_system_message and turns[0].get("role") == "system":
            turns = turns[1:]
        if not turns:
            raise self._refuse(row, "no turns are left (transformers refuses an empty conversation)")
        return turns


def _tools(value: Any, row: int, where: str) -> list[Any] | None:
    """``ChatTemplateStrategy._get_tools``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise UnsupportedConfigError(f"{where}.path", f"row {row}: tools are not JSON ({exc})") from None
    if not isinstance(value, list):
        raise UnsupportedConfigError(f"{where}.path", f"row {row}: tools are {type(value).__name__}, not a list")
    for tool in value:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            params = tool["function"].get("parameters")
            if isinstance(params, str):
                try:
                    tool["function"]["parameters"] = json.loads(params)
                except ValueError as exc:
                    raise UnsupportedConfigError(
                        f"{where}.path", f"row {row}: tool parameters are not JSON ({exc})"
                    ) from None
    return value


# --- rendering and text diffs --------------------------------------------------------------------


class _Renderer:
    """``apply_chat_template(tokenize=False)`` in batches (rows with tools one by one)."""

    def __init__(self, tokenizer: Any, template: str, kwargs: Mapping[str, Any]) -> None:
        self.tokenizer = tokenizer
        self.kwargs = {"chat_template": template, "add_generation_prompt": False, **kwargs}

    def render(self, conversations: Sequence[list[dict[str, Any]]], tools: Sequence[list[Any] | None]) -> list[str]:
        out: list[str | None] = [None] * len(conversations)
        plain = [i for i, t in enumerate(tools) if not t]
        for start in range(0, len(plain), RENDER_BATCH):
            batch = plain[start : start + RENDER_BATCH]
            texts = self.tokenizer.apply_chat_template([conversations[i] for i in batch], tokenize=False, **self.kwargs)
            for i, text in zip(batch, texts, strict=True):
                out[i] = text
        for i, tool_list in enumerate(tools):
            if tool_list:
                out[i] = self.tokenizer.apply_chat_template(
                    conversations[i], tokenize=False, tools=tool_list, **self.kwargs
                )
        return out  # type: ignore[return-value]


def _common_prefix(a: str, b: str, limit: int) -> int:
    """Length of the common prefix of ``a`` and ``b`` within ``limit`` characters (by
    halving: each step one slice comparison in C)."""
    if a[:limit] == b[:limit]:
        return limit
    low, high = 0, limit  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    la, lb = len(a), len(b)
    if a[la - limit :] == b[lb - limit :] or limit == 0:
        return limit
    low, high = 0, limit
    while high - low > 1:
        middle = (low + high) // 2
        if a[la - middle : la - low] == b[lb - middle : lb - low]:
            low = middle
        else:
            high = middle
    return low


def diff_char_span(full: str, dummy: str) -> tuple[int, int]:
    """``ChatTemplateStrategy._diff_char_span``: the characters of ``full`` that differ
    from ``dummy`` (the suffix bounded by the prefix)."""
    limit = min(len(full), len(dummy))
    start = _common_prefix(full, dummy, limit)
    suffix = _common_suffix(full, dummy, limit - start)
    return start, len(full) - suffix


# --- token spans, labels -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Located:
    """The turns to locate, flat: row, whether it trains, and its token span (-1, -1 if none)."""

    row: npt.NDArray[np.int64]
    trains: npt.NDArray[np.bool_]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]


def _bisect(
    values: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    keys: npt.NDArray[np.int64],
    side: str,
) -> npt.NDArray[np.int64]:
    """Per query, ``bisect_{side}(values[row], key)`` within its row. Rows whose values are
    sorted (all, for usual offsets) are searched at once; others one by one, as bisect
    does on an unsorted list."""
    out = np.empty(len(rows), dtype=np.int64)
    lengths = np.diff(offsets)
    step = np.zeros(len(values), dtype=bool)
    if len(values) > 1:
        step[1:] = values[1:] < values[:-1]
        step[offsets[:-1][lengths > 0]] = False  # a row's first value follows another row
    running = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(step, out=running[1:])
    unsorted_row = (running[offsets[1:]] - running[offsets[:-1]]) > 0
    from bisect import bisect_left, bisect_right

    search = bisect_right if side == "right" else bisect_left
    for q in np.flatnonzero(unsorted_row[rows]):
        row = rows[q]
        out[q] = search(values[offsets[row] : offsets[row + 1]].tolist(), int(keys[q]))
    sorted_queries = np.flatnonzero(~unsorted_row[rows])
    if len(sorted_queries):
        # shift every row above the previous one's values, then one global search
        span = int(max(values.max(initial=0), keys.max(initial=0))) + 2
        base = np.repeat(np.arange(len(lengths), dtype=np.int64) * span, lengths)
        shifted = values + base
        r = rows[sorted_queries]
        found = np.searchsorted(shifted, keys[sorted_queries] + r * span, side=side)  # type: ignore[call-overload]
        out[sorted_queries] = np.clip(found - offsets[r], 0, lengths[r])
    return out


def _first_token_after(
    ids: Ragged, rows: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], targets: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``find_first_eos_token(input_ids, turn_end)`` kept only when within EOS_REACH of the
    turn's end: the index, or -1. ``turn_end == -1`` scans from ``input_ids[-1]`` (a
    match there reads as "not found"), then from 0."""
    found = np.full(len(rows), -1, dtype=np.int64)
    lengths = ids.lengths[rows]
    starts = ids.offsets[:-1][rows]
    is_target = np.isin(ids.values, targets)
    normal = ends >= 0
    for step in range(EOS_REACH + 1):
        at = ends + step
        ok = normal & (found < 0) & (at < lengths)
        hit = ok.copy()
        hit[ok] = is_target[starts[ok] + at[ok]]
        found[hit] = at[hit]
    wrapped = ~normal & (lengths > 0)
    if wrapped.any():
        last_hit = np.zeros(len(rows), dtype=bool)
        last_hit[wrapped] = is_target[starts[wrapped] + lengths[wrapped] - 1]
        candidates = wrapped & ~last_hit
        for position in range(EOS_REACH):  # |i - (-1)| <= 3: i in 0, 1, 2
            ok = candidates & (found < 0) & (position < lengths)
            hit = ok.copy()
            hit[ok] = is_target[starts[ok] + position]
            found[hit] = position
    return found


def _labels(ids: Ragged, located: _Located, eot_ids: Sequence[int], eos_id: int, options: ChatOptions) -> Ragged:
    values = np.full(len(ids.values), IGNORE_INDEX, dtype=np.int64)
    valid = located.trains & (located.start >= 0) & (located.end >= 0) & (located.end > located.start)
    base = ids.offsets[:-1][located.row[valid]]
    mark = np.zeros(len(ids.values) + 1, dtype=np.int64)
    np.add.at(mark, base + located.start[valid], 1)
    np.add.at(mark, base + located.end[valid], -1)
    inside = np.cumsum(mark[:-1]) > 0
    values[inside] = ids.values[inside]
    eot_option = options.train_on_eot if options.train_on_eot is not None else options.train_on_eos
    for targets, option in (
        (np.asarray(eot_ids, dtype=np.int64), eot_option),
        (np.asarray([eos_id]), options.train_on_eos),
    ):
        if not len(targets):
            continue
        found = _first_token_after(ids, located.row, located.end, targets)
        hit = found >= 0
        if option == "all":
            chosen = hit
        elif option == "turn":
            chosen = hit & located.trains
        elif option == "last":
            # the last located turn of each row that found one
            chosen = np.zeros(len(found), dtype=bool)
            rows_hit = located.row[hit]
            if len(rows_hit):
                positions = np.flatnonzero(hit)
                last = np.r_[rows_hit[1:] != rows_hit[:-1], True]
                chosen[positions[last]] = True
        else:
            continue
        at = ids.offsets[:-1][located.row[chosen]] + found[chosen]
        values[at] = ids.values[at]
    return Ragged(values, ids.offsets)


# --- the strategy -------------------------------------------------------------------------------------


def chat_template(
    table: pa.Table,
    spec: Any,
    cfg: Any,
    tok: Any,
    progress: Callable[[int], None],
) -> tuple[Ragged, Ragged]:
    """``input_ids`` and ``labels`` of every row of ``table`` (one output row per input row)."""
    options: ChatOptions = spec.chat
    template = resolve_template(options.choice, options.jinja, tok.hf, f"{spec.key}.chat_template")
    if options.field_messages not in table.column_names:
        raise UnsupportedConfigError(
            f"{spec.key}.field_messages", f"{spec.path} has no column {options.field_messages!r}"
        )
    messages = remove_none_values(table.column(options.field_messages).to_pylist())
    has_system = SYSTEM_COLUMN in table.column_names
    systems = remove_none_values(table.column(SYSTEM_COLUMN).to_pylist()) if has_system else None
    tool_values = (
        remove_none_values(table.column(TOOLS_COLUMN).to_pylist()) if TOOLS_COLUMN in table.column_names else None
    )
    builder = _Rows(options, spec.key)
    conversations = []
    tools: list[list[Any] | None] = []
    for i, row_messages in enumerate(messages):
        system = (True, systems[i]) if systems is not None else (False, None)
        conversations.append(builder.turns(row_messages, system, i))
        tools.append(_tools(tool_values[i], i, spec.key) if tool_values is not None else None)

    renderer = _Renderer(tok.hf, template, dict(getattr(cfg, "chat_template_kwargs", None) or {}))
    full_texts = renderer.render(conversations, tools)
    if any(not text for text in full_texts):
        raise UnsupportedConfigError(f"{spec.key}.chat_template", "a conversation renders to no text")

    # the turns to locate (find_turn), in row order then turn order
    locate_all = options.train_on_eos == "all" or (options.train_on_eot or options.train_on_eos) == "all"
    mistral = "mistral" in str(getattr(tok.hf, "name_or_path", "")).lower()
    rows, trains, skipped = [], [], []
    dummies: list[list[dict[str, Any]]] = []
    dummy_tools: list[list[Any] | None] = []
    for r, turns in enumerate(conversations):
        for t, turn in enumerate(turns):
            should = cfg.train_on_inputs or turn.get("role") in options.roles_to_train
            if not should and not locate_all:
                continue
            rows.append(r)
            trains.append(bool(should))
            if t == 0 and turn.get("role") == "system" and mistral:
                skipped.append(True)  # Mistral templates print no lone system turn
                continue
            skipped.append(False)
            for sentinel in SENTINELS:
                dummies.append([*turns[:t], {"role": turn.get("role"), "content": sentinel}, *turns[t + 1 :]])
                dummy_tools.append(tools[r])
    dummy_texts = renderer.render(dummies, dummy_tools)
    if any(not text for text in dummy_texts):
        raise UnsupportedConfigError(f"{spec.key}.chat_template", "a conversation renders to no text")

    ids, starts, ends = tok.encode_with_offsets(full_texts, progress)

    row = np.asarray(rows, dtype=np.int64)
    char_start = np.full(len(rows), 0, dtype=np.int64)
    char_end = np.full(len(rows), 0, dtype=np.int64)
    k = 0
    for q, is_skipped in enumerate(skipped):
        if is_skipped:
            continue
        full = full_texts[rows[q]]
        first = diff_char_span(full, dummy_texts[k])
        second = diff_char_span(full, dummy_texts[k + 1])
        k += 2
        char_start[q] = min(first[0], second[0])
        char_end[q] = max(first[1], second[1])
    skipped_mask = np.asarray(skipped, dtype=bool)
    empty = skipped_mask | (char_end <= char_start)
    start = _bisect(ends.values, ends.offsets, row, char_start, "right")
    end = _bisect(starts.values, starts.offsets, row, char_end, "left")
    n_tokens = ids.lengths[row]
    if bool(((start >= n_tokens) & ~empty).any()):
        raise UnsupportedConfigError(
            f"{spec.key}.chat_template", "a turn lies past the last token (Axolotl's token-diff fallback)"
        )
    start[empty] = -1
    end[empty] = -1
    bad = (end <= start) & ~empty
    start[bad] = -1
    end[bad] = -1
    located = _Located(row, np.asarray(trains, dtype=bool), start, end)
    labels = _labels(ids, located, tok.eot_token_ids(), tok.eos_token_id, options)
    return ids, labels
