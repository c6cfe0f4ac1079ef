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

Here the same steps run over chunks of rows at once: the renders use transformers' own
compiled template (directly for plain conversations, after a sample is checked equal to
``apply_chat_template``; through ``apply_chat_template`` otherwise), every distinct
rendered text is tokenized once in bulk (in a second thread while the sentinel variants
render), the offsets are read from the Encodings only where bisect probes them, and the
labels and EOS positions are numpy operations over the flat token arrays
(:mod:`._chat_spans`).

What is not reproduced is refused (UnsupportedConfigError): message properties beyond the
mapped ones when Axolotl's template analyzer is not installed, list contents
(``training_detail``), ``message_field_training*``, ``split_thinking``, the legacy path
(``roles_to_train: []`` with no EOS training), and a turn the locator cannot place
(Axolotl's token-diff fallback).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import UnsupportedConfigError
from ._chat_spans import Located, OffsetsUnavailable, diff_char_span, labels, token_span
from ._ragged import Ragged, concat

SENTINELS = ("[[dummy_message]]", "zzdummymessagezz")
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
    # the legacy message_field_role / _content are folded in by Axolotl's validation
    # (or _config.apply_axolotl_defaults); left in an entry, _config refuses them
    mappings = dict(entry.get("message_property_mappings") or {})
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


def _axolotl_file(*parts: str) -> Path | None:
    """A file of the installed Axolotl package, found without importing it (its package
    imports torch)."""
    spec = importlib.util.find_spec("axolotl")
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(root).joinpath(*parts)
        if path.is_file():
            return path
    return None


def _named_template(name: str, key: str) -> str:
    """Axolotl's named template, read from the installed Axolotl's template files."""
    if importlib.util.find_spec("axolotl") is None:
        raise UnsupportedConfigError(key, f"the named template {name!r} comes with Axolotl, which is not installed")
    path = _axolotl_file("utils", "chat_templates", "templates", f"{name}.jinja")
    if path is None:
        raise UnsupportedConfigError(key, f"no chat template named {name!r} in Axolotl")
    return path.read_text(encoding="utf-8")


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


def template_message_vars(template: str, field_messages: str) -> list[str] | None:
    """The message properties ``template`` reads (``ChatTemplatePrompter``'s
    ``chat_template_msg_variables``), by the installed Axolotl's own
    ``JinjaTemplateAnalyzer``: its module (it imports only jinja2) is loaded from its file,
    so neither Axolotl's package nor torch is imported. None without Axolotl."""
    import sys

    util = importlib.util
    name = "fast_axolotl._axolotl_jinja_template_analyzer"
    module = sys.modules.get(name)
    if module is None:
        path = _axolotl_file("prompt_strategies", "jinja_template_analyzer.py")
        loader_spec = util.spec_from_file_location(name, path) if path is not None else None
        if loader_spec is None or loader_spec.loader is None:
            return None
        module = util.module_from_spec(loader_spec)
        try:
            loader_spec.loader.exec_module(module)
        except Exception:
            return None
        sys.modules[name] = module
    try:
        found = module.JinjaTemplateAnalyzer(template).get_message_vars(field_messages)
    except Exception:
        return None
    return list(found)


class _Rows:
    """Builds every row's turns as ``get_conversation_thread`` does."""

    def __init__(self, options: ChatOptions, where: str, template_vars: list[str] | None = None) -> None:
        self.options = options
        self.where = where
        self.roles = dict(options.roles)
        self.sources = {source for _, source in options.mappings}
        self.template_vars = template_vars

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
        for name, value in turn.items():
            if name != "role" and not isinstance(value, str):
                raise self._refuse(row, f"message {name!r} is {type(value).__name__}, not text")
        remaining = [k for k in message if k not in self.sources and message[k] is not None]
        if remaining:
            if self.template_vars is None:
                raise self._refuse(
                    row,
                    f"message properties {sorted(remaining)} (Axolotl keeps those its template reads, "
                    "found by its template analyzer; Axolotl is not installed)",
                )
            # the properties the template reads, as the prompter keeps them
            for key in self.template_vars:
                if key in remaining:
                    turn[key] = message[key]
            _parse_tool_call_arguments(turn, row, self.where)
            thinking = turn.get("reasoning_content")
            if thinking is not None and not isinstance(thinking, str):
                raise self._refuse(row, "reasoning_content is not text (per-part training)")
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


def _parse_tool_call_arguments(turn: dict[str, Any], row: int, where: str) -> None:
    """``transform_message``: JSON-string ``tool_calls[].function.arguments`` parsed."""
    for tool_call in turn.get("tool_calls") or []:
        function = tool_call.get("function") if isinstance(tool_call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            try:
                function["arguments"] = json.loads(function["arguments"])
            except ValueError as exc:
                raise UnsupportedConfigError(
                    f"{where}.path", f"row {row}: tool call arguments are not JSON ({exc})"
                ) from None


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


def _plain_turns(conversation: list[dict[str, Any]]) -> bool:
    """Turns transformers hands to the template unchanged: only ``role`` and ``content``,
    both text (no None to drop, no reasoning field to alias, no objects to convert)."""
    return all(
        turn.keys() <= {"role", "content"} and all(isinstance(v, str) for v in turn.values()) for turn in conversation
    )


def _plain_value(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


class _Renderer:
    """``tokenizer.apply_chat_template(conversation, tokenize=False, chat_template=...,
    add_generation_prompt=False, **chat_template_kwargs)`` for many conversations.

    For plain conversations (text roles and contents, no tools) the template transformers
    compiled (``_compile_jinja_template``, its Jinja environment) is rendered directly
    with the variables ``apply_chat_template`` passes it (the special tokens map, the
    kwargs, ``tools``/``documents`` None): a third of the cost per conversation. Checked
    once against ``apply_chat_template`` on a sample of the first conversations; any
    difference, or another transformers, sends everything through ``apply_chat_template``.
    """

    def __init__(self, tokenizer: Any, template: str, kwargs: Mapping[str, Any]) -> None:
        self.tokenizer = tokenizer
        self.kwargs = {"chat_template": template, "add_generation_prompt": False, **kwargs}
        self.compiled: Any = None
        self.variables: dict[str, Any] = {}
        self.checked = False
        if all(_plain_value(v) for v in kwargs.values()) and not {"tools", "documents"} & kwargs.keys():
            try:
                from transformers.utils.chat_template_utils import _compile_jinja_template

                self.compiled = _compile_jinja_template(template)
            except Exception:  # another transformers: its apply_chat_template only
                self.compiled = None
            self.variables = {**tokenizer.special_tokens_map, **kwargs}

    def message_vars(self, field_messages: str) -> list[str] | None:
        return template_message_vars(self.kwargs["chat_template"], field_messages)

    def _apply(self, conversations: Sequence[list[dict[str, Any]]], tools: list[Any] | None = None) -> list[str]:
        extra = {"tools": tools} if tools else {}
        texts = self.tokenizer.apply_chat_template(list(conversations), tokenize=False, **self.kwargs, **extra)
        return list(texts)

    def _direct(self, conversation: list[dict[str, Any]]) -> str:
        text = self.compiled.render(
            messages=conversation, tools=None, documents=None, add_generation_prompt=False, **self.variables
        )
        return str(text)

    def _check_direct(self, conversations: Sequence[list[dict[str, Any]]], plain: list[int]) -> None:
        self.checked = True
        if self.compiled is None or not plain:
            return
        sample = sorted({plain[int(k)] for k in np.linspace(0, len(plain) - 1, 16)} | set(plain[:8]))
        try:
            same = [self._direct(conversations[i]) for i in sample] == self._apply([conversations[i] for i in sample])
        except Exception:
            same = False
        if not same:
            self.compiled = None

    def render(
        self,
        conversations: Sequence[list[dict[str, Any]]],
        tools: Sequence[list[Any] | None],
        plain_turns: Sequence[bool] | None = None,
    ) -> list[str]:
        """The texts; ``plain_turns[i]``: whether conversation i is ``_plain_turns`` (computed
        here when not given)."""
        out: list[str | None] = [None] * len(conversations)
        if plain_turns is None:
            plain_turns = [_plain_turns(c) for c in conversations]
        plain = [i for i, t in enumerate(tools) if not t]
        if not self.checked:
            self._check_direct(conversations, [i for i in plain if plain_turns[i]])
        others = []
        for i in plain:
            if self.compiled is not None and plain_turns[i]:
                out[i] = self._direct(conversations[i])
            else:
                others.append(i)
        for start in range(0, len(others), RENDER_BATCH):
            batch = others[start : start + RENDER_BATCH]
            for i, text in zip(batch, self._apply([conversations[i] for i in batch]), strict=True):
                out[i] = text
        for i, tool_list in enumerate(tools):
            if tool_list:
                out[i] = self._apply([conversations[i]], tool_list)[0]
        return out  # type: ignore[return-value]


# --- the strategy -------------------------------------------------------------------------------------

#: Rows per chunk: renders, Encodings and spans of one chunk at a time (bounded memory).
CHUNK_ROWS = 4096


def _column(table: pa.Table, name: str) -> list[Any] | None:
    return remove_none_values(table.column(name).to_pylist()) if name in table.column_names else None


def chat_template(
    table: pa.Table,
    spec: Any,
    cfg: Any,
    tok: Any,
    progress: Callable[[int], None],
) -> tuple[Ragged, Ragged]:
    """``input_ids`` and ``labels`` of every row of ``table`` (one output row per input row)."""
    options: ChatOptions = spec.chat
    if importlib.util.find_spec("jinja2") is None:
        raise UnsupportedConfigError(
            f"{spec.key}.type", "rendering chat templates needs jinja2 (pip install 'fast-axolotl[prepare]')"
        )
    template = resolve_template(options.choice, options.jinja, tok.hf, f"{spec.key}.chat_template")
    if options.field_messages not in table.column_names:
        raise UnsupportedConfigError(
            f"{spec.key}.field_messages", f"{spec.path} has no column {options.field_messages!r}"
        )
    renderer = _Renderer(tok.hf, template, dict(getattr(cfg, "chat_template_kwargs", None) or {}))
    ids_parts, label_parts = [], []
    # one thread tokenizes a chunk's texts while this one locates its turns
    with ThreadPoolExecutor(1, thread_name_prefix="fast-axolotl-tokenize") as pool:
        chunk = _Chunker(spec, cfg, tok, renderer, pool)
        for start in range(0, table.num_rows, CHUNK_ROWS):
            ids, labels = chunk.run(table.slice(start, CHUNK_ROWS), start)
            ids_parts.append(ids)
            label_parts.append(labels)
            progress(min(CHUNK_ROWS, table.num_rows - start))
    return concat(ids_parts), concat(label_parts)


class _Chunker:
    def __init__(self, spec: Any, cfg: Any, tok: Any, renderer: _Renderer, pool: ThreadPoolExecutor) -> None:
        self.spec = spec
        self.pool = pool
        self.options: ChatOptions = spec.chat
        self.train_on_inputs = bool(cfg.train_on_inputs)
        self.tok = tok
        self.renderer = renderer
        self.rows = _Rows(self.options, spec.key, renderer.message_vars(self.options.field_messages))
        eot = self.options.train_on_eot if self.options.train_on_eot is not None else self.options.train_on_eos
        self.eot_option, self.eos_option = eot, self.options.train_on_eos
        self.locate_all = "all" in (eot, self.options.train_on_eos)
        self.mistral = "mistral" in str(getattr(tok.hf, "name_or_path", "")).lower()
        self.eot_ids = tok.eot_token_ids()

    def _refuse(self, reason: str) -> UnsupportedConfigError:
        return UnsupportedConfigError(f"{self.spec.key}.chat_template", reason)

    def run(self, table: pa.Table, first_row: int) -> tuple[Ragged, Ragged]:
        messages = _column(table, self.options.field_messages) or []
        systems = _column(table, SYSTEM_COLUMN)
        tool_values = _column(table, TOOLS_COLUMN)
        conversations, tools = [], []
        for i, row_messages in enumerate(messages):
            system = (True, systems[i]) if systems is not None else (False, None)
            conversations.append(self.rows.turns(row_messages, system, first_row + i))
            tools.append(_tools(tool_values[i], first_row + i, self.spec.key) if tool_values is not None else None)
        plain = [_plain_turns(turns) for turns in conversations]
        full_texts = self.renderer.render(conversations, tools, plain)
        if any(not text for text in full_texts):
            raise self._refuse("a conversation renders to no text (Axolotl's token-diff fallback)")
        encoded = self.pool.submit(self.tok.encode_for_offsets, full_texts)

        # the turns find_turn is called for, in row then turn order
        rows, trains, skipped = [], [], []
        dummies: list[list[dict[str, Any]]] = []
        dummy_tools: list[list[Any] | None] = []
        dummy_plain: list[bool] = []
        for r, turns in enumerate(conversations):
            for t, turn in enumerate(turns):
                should_train = self.train_on_inputs or turn.get("role") in self.options.roles_to_train
                if not should_train and not self.locate_all:
                    continue
                rows.append(r)
                trains.append(should_train)
                # Mistral templates print no lone system turn: find_turn returns (-1, -1)
                lone_system = t == 0 and turn.get("role") == "system" and self.mistral
                skipped.append(lone_system)
                if lone_system:
                    continue
                for sentinel in SENTINELS:
                    dummies.append([*turns[:t], {"role": turn.get("role"), "content": sentinel}, *turns[t + 1 :]])
                    dummy_tools.append(tools[r])
                    dummy_plain.append(plain[r] and isinstance(turn.get("role"), str))
        dummy_texts = self.renderer.render(dummies, dummy_tools, dummy_plain)
        if any(not text for text in dummy_texts):
            raise self._refuse("a conversation renders to no text (Axolotl's token-diff fallback)")

        # the character spans (Python) while the other thread tokenizes (Rust, GIL released)
        char_spans: list[tuple[int, int, int]] = []  # (located turn, start, end)
        k = 0
        for q, r in enumerate(rows):
            if skipped[q]:
                continue
            full = full_texts[r]
            first = diff_char_span(full, dummy_texts[k])
            second = diff_char_span(full, dummy_texts[k + 1])
            k += 2
            # the widest of the two sentinels' spans; an empty one is no turn
            char_start, char_end = min(first[0], second[0]), max(first[1], second[1])
            if char_end > char_start:
                char_spans.append((q, char_start, char_end))
        ids, encodings = encoded.result()
        lengths = ids.lengths
        start = np.full(len(rows), -1, dtype=np.int64)
        end = np.full(len(rows), -1, dtype=np.int64)
        for q, char_start, char_end in char_spans:
            r = rows[q]
            try:
                span = token_span(encodings[r], int(lengths[r]), char_start, char_end)
            except OffsetsUnavailable:
                span = None
            if span is None:
                raise self._refuse("a turn Axolotl locates with its token-diff fallback")
            if span[1] > span[0]:  # find_turn: an end before or at the start is no turn
                start[q], end[q] = span
        located = Located(np.asarray(rows, dtype=np.int64), np.asarray(trains, dtype=bool), start, end)
        return ids, labels(ids, located, self.eot_ids, self.tok.eos_token_id, self.eot_option, self.eos_option)
