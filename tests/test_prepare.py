"""fast_axolotl.prepare without Axolotl: the whole-array token operations against their
per-row definitions, the strategies' rules on a real tokenizer, what a config may hold,
and ``fast-axolotl prepare CONFIG.yml``. (Equality with Axolotl's own preparation is
tests/test_axolotl_prepare.py, in ``nox -s axolotl``.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fast_axolotl.errors import UnsupportedConfigError
from fast_axolotl.prepare import _ragged, _strategies, prepare_config, read_config
from fast_axolotl.prepare._config import apply_axolotl_defaults
from fast_axolotl.prepare._ragged import Ragged, join_rows

rows_strategy = st.lists(st.lists(st.integers(-3, 6), max_size=9), max_size=12)


def _lists(r: Ragged) -> list[list[int]]:
    return [r.values[a:b].tolist() for a, b in zip(r.offsets[:-1], r.offsets[1:], strict=True)]


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy, size=st.integers(1, 4), fill=st.integers(-3, 6))
def test_ragged_operations_match_their_per_row_definitions(rows: list[list[int]], size: int, fill: int) -> None:
    r = Ragged.from_lists(rows)
    assert _lists(r) == rows
    assert _lists(r.truncate(size)) == [row[:size] for row in rows]
    assert _lists(r.chunked(size)) == [row[i : i + size] for row in rows for i in range(0, len(row), size)]
    mask = np.array([len(row) % 2 == 0 for row in rows], dtype=bool)
    assert _lists(r.append_where(mask, fill)) == [row + [fill] if m else row for row, m in zip(rows, mask, strict=True)]
    starts = np.array([bool(row) and row[0] == fill for row in rows], dtype=bool)
    assert _lists(r.drop_first_where(starts)) == [row[1:] if s else row for row, s in zip(rows, starts, strict=True)]
    assert r.any_not_equal(fill).tolist() == [any(v != fill for v in row) for row in rows]
    assert _lists(r.positions()) == [list(range(len(row))) for row in rows]
    assert r.first(99).tolist() == [row[0] if row else 99 for row in rows]
    assert r.last(99).tolist() == [row[-1] if row else 99 for row in rows]
    order = np.arange(len(rows))[::-1]
    assert _lists(r.take(order)) == rows[::-1]
    assert _lists(join_rows(r, r.take(order))) == [a + b for a, b in zip(rows, rows[::-1], strict=True)]
    assert r.to_arrow().to_pylist() == rows


def test_to_arrow_splits_into_chunks_under_the_offset_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ragged, "_CHUNK_VALUES", 5)
    rows = [[1, 2, 3], [4], [5, 6, 7, 8], [], [9] * 7, [10]]
    column = Ragged.from_lists(rows).to_arrow()
    assert column.num_chunks > 1 and column.to_pylist() == rows
    assert str(column.type) == "list<item: int64>"


@settings(max_examples=100, deadline=None)
@given(rows=rows_strategy, limit=st.integers(1, 6))
def test_eos_rule(rows: list[list[int]], limit: int) -> None:
    eos = 6
    got = _lists(_strategies.eos_rule(Ragged.from_lists(rows), eos, limit))
    # PromptTokenizingStrategy._tokenize: append EOS when non-empty, not ending in EOS, shorter than max_length
    want = [row + [eos] if row and row[-1] != eos and len(row) < limit else row for row in rows]
    assert got == want


# --- a real tokenizer and config ------------------------------------------------------


def _tokenizer_dir(root: Path, bos: bool) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(f"word{i} alpha beta gamma delta {i * 7}" for i in range(300)), encoding="utf-8")
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<pad>"], show_progress=False)
    bpe.train([str(corpus)], trainer)
    if bos:
        bpe.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    out = root / ("bos" if bos else "plain")
    PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    ).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prepare")
    _tokenizer_dir(root, bos=False)
    _tokenizer_dir(root, bos=True)
    rows = [
        {
            "instruction": f"say word{i}",
            "input": "" if i % 3 else f"gamma {i}",
            "output": " ".join(["alpha"] * (i % 40)),
        }
        for i in range(120)
    ]
    rows += rows[:10]  # duplicates
    with (root / "alpaca.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    with (root / "texts.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(60):
            fh.write(json.dumps({"text": " ".join(["beta delta"] * (i * 3)), "other": i}) + "\n")
    return root


def _cfg(workdir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "base_model": str(workdir / "bos"),
        "datasets": [
            {"path": str(workdir / "alpaca.jsonl"), "type": "alpaca"},
            {"path": str(workdir / "texts.jsonl"), "type": "completion"},
        ],
        "sequence_len": 32,
        "sample_packing": True,
        "dataset_exact_deduplication": True,
        "seed": 7,
        "dataset_prepared_path": str(workdir / "prepared"),
        **extra,
    }


def test_prepared_rows_follow_axolotls_rules(workdir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    result = prepare_config(_cfg(workdir), output_dir=tmp_path / "out")
    table = result.dataset.data.table
    assert table.column_names == ["input_ids", "attention_mask", "labels", "position_ids", "length"]
    assert [str(t) for t in table.schema.types] == [
        "list<item: int32>",
        "list<item: int8>",
        "list<item: int64>",
        "list<item: int64>",
        "int64",
    ]
    tok = AutoTokenizer.from_pretrained(str(workdir / "bos"))
    rows = table.to_pylist()
    assert rows and all(2 <= len(r["input_ids"]) <= 32 for r in rows)
    for r in rows:
        assert r["attention_mask"] == [1] * len(r["input_ids"]) and r["length"] == len(r["input_ids"])
        assert r["position_ids"] == list(range(len(r["input_ids"])))
        assert any(v != -100 for v in r["labels"])
        masked = [v for v in r["labels"] if v == -100]
        if masked:  # an alpaca row: the prompt (with its BOS) masked, the response's BOS stripped
            assert r["input_ids"][0] == tok.bos_token_id and r["input_ids"].count(tok.bos_token_id) == 1
            assert r["labels"][len(masked) :] == r["input_ids"][len(masked) :]
        else:  # a completion chunk: labels are the ids
            assert r["labels"] == r["input_ids"]
    digests = {json.dumps(r) for r in rows}
    assert len(digests) == len(rows)  # deduplicated
    assert result.counts.duplicates > 0 and result.counts.dropped_length > 0
    # the same config prepares the same rows in the same order (the seed decides the shuffle)
    again = prepare_config(_cfg(workdir), output_dir=tmp_path / "again").dataset.data.table
    assert again.equals(table)
    other_seed = prepare_config(_cfg(workdir, seed=8), output_dir=tmp_path / "seed8").dataset.data.table
    assert not other_seed.equals(table) and other_seed.num_rows == table.num_rows


def test_directory_name_is_the_config_hash(workdir: Path) -> None:
    result = prepare_config(_cfg(workdir))
    assert result.path.parent == workdir / "prepared" and len(result.path.name) == 32
    changed = prepare_config(_cfg(workdir, sequence_len=48))
    assert changed.path.name != result.path.name


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"rl": "dpo"}, "rl"),
        ({"eot_tokens": ["<|im_end|>"]}, "eot_tokens"),
        ({"datasets": [{"path": "x.jsonl", "type": "alpaca"}]}, "datasets[0].path"),
        ({"datasets": [{"path": "ALPACA", "type": "pygmalion"}]}, "datasets[0].type"),
        (
            {"datasets": [{"path": "ALPACA", "type": "chat_template", "message_field_training": "train"}]},
            "datasets[0].message_field_training",
        ),
        ({"datasets": [{"path": "ALPACA", "type": "chat_template", "train_on_eos": "x"}]}, "datasets[0].train_on_eos"),
        ({"datasets": [{"path": "ALPACA", "type": "alpaca", "roles_to_train": ["gpt"]}]}, "datasets[0].roles_to_train"),
        ({"datasets": [{"path": "ALPACA", "type": "alpaca:vicuna"}]}, "datasets[0].type"),
        ({"datasets": [{"path": "ALPACA", "type": "alpaca", "split": "test"}]}, "datasets[0].split"),
        ({"datasets": [{"path": "ALPACA", "type": "alpaca", "shards": 2}]}, "datasets[0].shards"),
        ({"group_by_length": True}, "group_by_length"),
        ({"excess_length_strategy": "wrap"}, "excess_length_strategy"),
    ],
)
def test_configs_it_cannot_reproduce_are_refused_naming_the_key(
    workdir: Path, change: dict[str, Any], key: str
) -> None:
    cfg = _cfg(workdir, **change)
    for entry in cfg["datasets"]:
        if entry["path"] == "ALPACA":
            entry["path"] = str(workdir / "alpaca.jsonl")
    with pytest.raises(UnsupportedConfigError) as info:
        read_config(apply_axolotl_defaults(cfg))
    assert info.value.key == key
    assert isinstance(info.value, ValueError)


def test_a_tokenizer_whose_bulk_ids_differ_is_refused(workdir: Path) -> None:
    from transformers import AutoTokenizer

    from fast_axolotl.prepare._tokenizer import BulkTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(workdir / "plain"))
    bulk = BulkTokenizer(tokenizer)
    assert bulk.encode(["alpha beta", None, ""], 16).lengths.tolist()[1:] == [0, 0]

    class Different:
        def __call__(self, text: str, **kwargs: Any) -> dict[str, list[int]]:
            ids = tokenizer(text, **kwargs)["input_ids"]
            return {"input_ids": ids[::-1] + [0], "attention_mask": [1] * (len(ids) + 1)}

    bulk.hf = Different()
    with pytest.raises(UnsupportedConfigError, match="differs") as info:
        bulk.encode(["alpha beta gamma"], 16)
    assert info.value.key == "tokenizer"


def test_plugin_hook_leaves_a_refused_config_to_axolotl(workdir: Path) -> None:
    from fast_axolotl.integration._prepare import prepare_for_axolotl

    assert prepare_for_axolotl(_cfg(workdir, rl="dpo"), preprocess=True) is None
    assert prepare_for_axolotl(_cfg(workdir, fast_axolotl_prepare=False), preprocess=True) is None


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fast_axolotl", "prepare", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_prepares_a_config_and_prints_the_summary(workdir: Path, tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "axolotl.yml"
    config.write_text(yaml.safe_dump(_cfg(workdir, dataset_prepared_path=str(tmp_path / "prep"))), encoding="utf-8")
    done = _cli(str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for needle in ("alpaca.jsonl (alpaca): 130 rows in", "duplicates removed:", "rows out:", "time per stage:"):
        assert needle in done.stdout, done.stdout
    written = [p for p in (tmp_path / "prep").iterdir() if p.is_dir()]
    assert len(written) == 1 and (written[0] / "dataset_info.json").is_file()
    out = _cli(str(config), "-o", str(tmp_path / "elsewhere"), "-q", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == ""
    from datasets import load_from_disk

    assert load_from_disk(str(tmp_path / "elsewhere")).data.table.equals(load_from_disk(str(written[0])).data.table)


def test_cli_refuses_a_config_with_exit_status_2_naming_the_key(workdir: Path, tmp_path: Path) -> None:
    import yaml

    cfg = _cfg(workdir)
    cfg["datasets"][0]["type"] = "pygmalion"
    config = tmp_path / "chat.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    done = _cli(str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert "datasets[0].type" in done.stderr and "axolotl preprocess" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (workdir / "prepared").exists() or not any(
        p.name.startswith(".") for p in (workdir / "prepared").iterdir()
    )
    both = _cli(str(config), "--dedupe", cwd=tmp_path)
    assert both.returncode == 2 and "--dedupe" in both.stderr


# --- chat_template: the kernels against their per-row definitions ---------------------------


@settings(max_examples=300, deadline=None)
@given(full=st.text("abc", max_size=12), dummy=st.text("abc", max_size=12))
def test_diff_char_span_is_axolotls_prefix_then_bounded_suffix(full: str, dummy: str) -> None:
    from fast_axolotl.prepare._chat_spans import diff_char_span

    limit = min(len(full), len(dummy))
    start = 0
    while start < limit and full[start] == dummy[start]:
        start += 1
    suffix = 0
    while suffix < limit - start and full[len(full) - 1 - suffix] == dummy[len(dummy) - 1 - suffix]:
        suffix += 1
    assert diff_char_span(full, dummy) == (start, len(full) - suffix)


class _Offsets:
    """An Encoding's ``token_to_chars`` over given offsets."""

    def __init__(self, offsets: list[tuple[int, int]]) -> None:
        self.offsets = offsets

    def token_to_chars(self, index: int) -> tuple[int, int]:
        return self.offsets[index]


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), max_size=9),
    char_start=st.integers(0, 22),
    char_end=st.integers(0, 22),
    sort=st.booleans(),
)
def test_token_span_is_bisect_on_the_offsets(
    offsets: list[tuple[int, int]], char_start: int, char_end: int, sort: bool
) -> None:
    from bisect import bisect_left, bisect_right

    from fast_axolotl.prepare._chat_spans import token_span

    offsets = sorted(offsets) if sort else offsets  # unsorted too: bisect's answer on them
    got = token_span(_Offsets(offsets), len(offsets), char_start, char_end)
    start = bisect_right([e for _, e in offsets], char_start)  # _find_turn_from_text
    end = bisect_left([s for s, _ in offsets], char_end)
    assert got == (None if start >= len(offsets) else (start, end))


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=9), min_size=1, max_size=5),
    turns=st.lists(st.tuples(st.integers(0, 4), st.integers(-1, 10)), max_size=8),
)
def test_first_token_after_is_axolotls_scan_within_reach(rows: list[list[int]], turns: list[tuple[int, int]]) -> None:
    from fast_axolotl.prepare._chat_spans import EOS_REACH, _first_token_after

    turns = [(r % len(rows), end) for r, end in turns]
    ids = Ragged.from_lists(rows)
    got = _first_token_after(
        ids,
        np.array([t[0] for t in turns], dtype=np.int64),
        np.array([t[1] for t in turns], dtype=np.int64),
        np.array([3], dtype=np.int64),
    ).tolist()
    want = []
    for r, end in turns:
        found = next((i for i in range(end, len(rows[r])) if rows[r][i] == 3), -1)  # find_first_eos_token
        want.append(found if found != -1 and abs(found - end) <= EOS_REACH else -1)
    assert got == want


CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
)


def test_chat_template_trains_assistant_turns_and_their_eos(workdir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    conversations = [
        [("system", "alpha"), ("user", "say word1"), ("assistant", "beta gamma"), ("user", "again"), ("gpt", "delta")],
        [("human", "word2"), ("assistant", "")],
    ]
    path = tmp_path / "chat.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for turns in conversations:
            fh.write(json.dumps({"messages": [{"role": r, "content": c} for r, c in turns]}) + "\n")
    cfg = _cfg(
        workdir,
        sample_packing=False,
        shuffle_merged_datasets=False,
        sequence_len=256,
        base_model=str(workdir / "plain"),
    )
    cfg["datasets"] = [
        {"path": str(path), "type": "chat_template", "chat_template": "jinja", "chat_template_jinja": CHAT_TEMPLATE}
    ]
    result = prepare_config(cfg, output_dir=tmp_path / "out")
    tokenizer = AutoTokenizer.from_pretrained(str(workdir / "plain"))
    eos = tokenizer.eos_token_id
    rows = result.dataset.data.table.to_pylist()
    assert len(rows) == 2
    for row, turns in zip(rows, conversations, strict=True):
        text = "".join(
            f"<|{'assistant' if r == 'gpt' else 'user' if r == 'human' else r}|>{c}"
            + ("</s>" if r in ("assistant", "gpt") else "")
            for r, c in turns
        )
        assert row["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
        trained = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
        want = []
        for r, c in turns:
            if r in ("assistant", "gpt") and c:
                # the content's tokens, then its EOS. An empty turn trains nothing, not even
                # its EOS: find_turn gives (-1, -1), and the EOS scan from -1 first reads
                # input_ids[-1], an EOS here, whose index -1 means "not found".
                want += tokenizer(c, add_special_tokens=False)["input_ids"] + [eos]
        assert trained == want


def test_plugin_run_gives_the_tokenizer_its_threads_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Axolotl's CLI sets TOKENIZERS_PARALLELISM=false; the plugin's pipeline forks no
    worker, so it turns the tokenizer's threads on for its run and restores the value."""
    import os

    from fast_axolotl.integration._prepare import _tokenizer_threads

    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("FAST_AXOLOTL_NUM_THREADS", raising=False)
    with _tokenizer_threads():
        assert os.environ["TOKENIZERS_PARALLELISM"] == "true"
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false"
    monkeypatch.setenv("FAST_AXOLOTL_NUM_THREADS", "1")
    with _tokenizer_threads():
        assert os.environ["TOKENIZERS_PARALLELISM"] == "false"
    monkeypatch.delenv("TOKENIZERS_PARALLELISM")
    monkeypatch.delenv("FAST_AXOLOTL_NUM_THREADS")
    with _tokenizer_threads():
        assert os.environ["TOKENIZERS_PARALLELISM"] == "true"
    assert "TOKENIZERS_PARALLELISM" not in os.environ


def test_chat_message_properties_beyond_the_mapped_ones_need_axolotls_analyzer(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Axolotl keeps a message's other properties when its template analyzer finds the
    template reading them; without Axolotl's analyzer the config is refused, naming them."""
    from fast_axolotl.prepare import _chat

    monkeypatch.setattr(_chat, "_axolotl_file", lambda *parts: None)
    monkeypatch.delitem(__import__("sys").modules, "fast_axolotl._axolotl_jinja_template_analyzer", raising=False)
    path = tmp_path / "chat.jsonl"
    path.write_text(
        json.dumps(
            {"messages": [{"role": "user", "content": "alpha", "name": "x"}, {"role": "assistant", "content": "beta"}]}
        )
        + "\n",
        encoding="utf-8",
    )
    cfg = _cfg(workdir, base_model=str(workdir / "plain"), sequence_len=256)
    cfg["datasets"] = [
        {"path": str(path), "type": "chat_template", "chat_template": "jinja", "chat_template_jinja": CHAT_TEMPLATE}
    ]
    with pytest.raises(UnsupportedConfigError, match="name") as info:
        prepare_config(cfg, output_dir=tmp_path / "out")
    assert info.value.key == "datasets[0].path"
