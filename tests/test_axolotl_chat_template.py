"""``type: chat_template`` row by row against Axolotl 0.21's own strategy (``nox -s axolotl``).

Hypothesis draws conversations (roles Axolotl renames, empty contents, a ``system``
column, ShareGPT-style keys, message properties the template reads or not) and dataset options (``roles_to_train``, ``train_on_eos``,
``train_on_eot``, ``train_on_inputs``, ``drop_system_message``, ``roles``, a named, inline
or tokenizer template); :mod:`fast_axolotl.prepare` must give every row the
``input_ids`` and ``labels`` that Axolotl's ``ChatTemplateStrategy.tokenize_prompt`` gives
the same batch (as ``datasets.map(batched=True)`` passes it), or refuse the config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_axolotl_preprocess import (  # noqa: E402  (tests/ is on sys.path: conftest)
    pytestmark,  # noqa: F401  (skipped without the real Axolotl)
    write_model,
)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]

#: A template that closes assistant turns with the EOS token (so train_on_eos has work).
EOS_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
#: Position-dependent: only the last assistant turn is closed by EOS.
LAST_EOS_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] | trim }}"
    "{% if loop.last and m['role'] == 'assistant' %}{{ eos_token }}{% endif %} {% endfor %}"
)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("chat-template")
    corpus = root / "corpus.txt"
    lines = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(30)) for i in range(200)]
    lines += ["<|user|> <|assistant|> <|system|> [user] [assistant] <|im_start|> <|im_end|>"] * 20
    corpus.write_text("\n".join(lines), encoding="utf-8")
    model = root / "model"
    write_model(model, corpus, vocab_size=400)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    tokenizer.chat_template = EOS_TEMPLATE
    tokenizer.save_pretrained(str(model))
    return {"root": root, "model": model}


def _text(draw: Any) -> str:
    return " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=12)))


@st.composite
def conversations(draw: Any, sharegpt: bool) -> dict[str, Any]:
    roles = draw(st.lists(st.sampled_from(["user", "assistant", "system", "human", "gpt"]), min_size=1, max_size=5))
    role_key, content_key = ("from", "value") if sharegpt else ("role", "content")
    messages = [{role_key: role, content_key: _text(draw)} for role in roles]
    for message in messages:
        # properties beyond role/content: kept if the template reads them, else dropped
        extra = draw(st.sampled_from([{}, {}, {"weight": 0}, {"name": "bot"}, {"reasoning_content": _text(draw)}]))
        message.update(extra)
    return {"messages": messages}


def _tokenizer(harness: dict[str, Any], template: str | None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(harness["model"]))
    if template is not None:
        tokenizer.chat_template = template
    return tokenizer


def _ours(rows: list[dict[str, Any]], entry: dict[str, Any], cfg: dict[str, Any], tokenizer: Any, path: Path) -> Any:
    import pyarrow as pa

    from fast_axolotl.prepare import load_config, read_config
    from fast_axolotl.prepare._strategies import tokenize
    from fast_axolotl.prepare._tokenizer import BulkTokenizer

    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    plan = read_config(load_config({**cfg, "datasets": [{**entry, "path": str(path)}]}))
    table = pa.Table.from_pylist(rows)
    return tokenize(table, plan.datasets[0], plan, BulkTokenizer(tokenizer), lambda _: None)


def _axolotls(rows: list[dict[str, Any]], entry: dict[str, Any], cfg: dict[str, Any], tokenizer: Any) -> Any:
    import pyarrow as pa
    from axolotl.prompt_strategies.chat_template import load
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault

    full = validate_config(
        DictDefault(
            {
                "micro_batch_size": 1,
                "gradient_accumulation_steps": 1,
                "learning_rate": 1e-4,
                "output_dir": "out",
                **cfg,
                "datasets": [{**entry, "path": "rows.jsonl"}],
            }
        )
    )
    strategy = load(tokenizer, full, full.datasets[0])
    batch = pa.Table.from_pylist(rows).to_pydict()  # what datasets.map(batched=True) hands over
    return strategy.tokenize_prompt(batch)


OPTIONS = st.fixed_dictionaries(
    {
        "roles_to_train": st.sampled_from([None, ["assistant"], ["assistant", "user"], ["gpt"], ["system"]]),
        "train_on_eos": st.sampled_from([None, "turn", "all", "last", "none"]),
        "drop_system_message": st.sampled_from([None, True]),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    options=OPTIONS,
    train_on_inputs=st.booleans(),
    template=st.sampled_from(["tokenizer", "inline-last-eos", "chatml", "llama3", "qwen3", "gemma", "phi_3"]),
    system_column=st.booleans(),
    sharegpt=st.booleans(),
)
def test_rows_equal_axolotls_strategy(
    data: Any,
    options: dict[str, Any],
    train_on_inputs: bool,
    template: str,
    system_column: bool,
    sharegpt: bool,
    harness: dict[str, Any],
    tmp_path: Path,
) -> None:
    from fast_axolotl.errors import UnsupportedConfigError

    rows = data.draw(st.lists(conversations(sharegpt), min_size=1, max_size=6))
    if system_column:
        for i, row in enumerate(rows):
            row["system"] = f"system prompt {WORDS[i % len(WORDS)]}"
    entry: dict[str, Any] = {"type": "chat_template", **{k: v for k, v in options.items() if v is not None}}
    if sharegpt:
        entry["message_property_mappings"] = {"role": "from", "content": "value"}
    if template == "inline-last-eos":
        entry["chat_template"] = "jinja"
        entry["chat_template_jinja"] = LAST_EOS_TEMPLATE
    elif template != "tokenizer":
        entry["chat_template"] = template  # one of Axolotl's named templates
    cfg = {"sequence_len": 256, "train_on_inputs": train_on_inputs, "base_model": str(harness["model"])}
    tokenizer = _tokenizer(harness, None)
    try:
        want = _axolotls(rows, entry, cfg, tokenizer)
    except Exception as exc:  # Axolotl refuses the input: so must we
        with pytest.raises((UnsupportedConfigError, type(exc))):
            _ours(rows, entry, cfg, _tokenizer(harness, None), tmp_path / "rows.jsonl")
        return
    got = _ours(rows, entry, cfg, _tokenizer(harness, None), tmp_path / "rows.jsonl")
    assert got.column("input_ids").to_pylist() == want["input_ids"]
    assert got.column("labels").to_pylist() == want["labels"]
    assert got.column("attention_mask").to_pylist() == want["attention_mask"]


def test_refused_keys_name_themselves(harness: dict[str, Any], tmp_path: Path) -> None:
    from fast_axolotl.errors import UnsupportedConfigError

    rows = [{"messages": [{"role": "user", "content": "alpha"}, {"role": "assistant", "content": "beta"}]}]
    cases = {
        "message_field_training": {"message_field_training": "train"},
        "split_thinking": {"split_thinking": True},
    }
    for key, extra in cases.items():
        entry = {"type": "chat_template", **extra}
        with pytest.raises(UnsupportedConfigError, match=key):
            _ours(
                rows,
                entry,
                {"sequence_len": 64, "base_model": str(harness["model"])},
                _tokenizer(harness, None),
                tmp_path / "rows.jsonl",
            )
