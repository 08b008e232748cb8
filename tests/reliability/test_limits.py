"""No traceback for bad input: memory and corpus limits, every CLI number, and hypothesis
fuzzing the fields of config.json, checkpoints, the raw manifest and tokenizer.json."""
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import tokenizers
from models import checkpoint as ckpt
from models.config import Config
from models.generate import TextStream, generate
from models.resources import (
    MAX_CORPUS_BYTES, check_corpus_file, check_training_memory, parameter_count)
from models.stopping import TrainingDiverged
from models.train import Trainer
from models.validation import InputError
from run_helpers import MICRO, copy_run, error_of


# ---------------------------------------------------------------- resources

@pytest.mark.parametrize("flags, words", [
    (["--context", "100000"], "--batch-size 32 x --context 100000"),
    (["--n-embd", "65536"], "206,163,279,872 parameters"),
])
def test_a_configuration_too_large_for_the_memory_is_refused_up_front(corpus, tmp_path, capsys,
                                                                      flags, words):
    run = tmp_path / "run"
    began = time.monotonic()
    line = error_of(["train", "--corpus", corpus, "--out", str(run), *flags], capsys)
    assert time.monotonic() - began < 5 and not run.exists()  # nothing built or written
    assert "this configuration needs about" in line and words in line
    assert "available; lower --batch-size, --context or the model's size" in line


def test_the_memory_estimate_counts_parameters_exactly_and_names_both_numbers():
    config = Config()
    from models.config import build_model
    assert parameter_count(config, 65) == build_model(config, 65).num_parameters()
    with pytest.raises(InputError, match=r"needs about .* more than the 1.0 MiB available"):
        check_training_memory(config, 65, available=2 ** 20)
    check_training_memory(config, 65, available=10 ** 10)


def test_a_corpus_too_large_to_encode_is_refused_before_reading(tmp_path, capsys):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(2 * MAX_CORPUS_BYTES)  # sparse: no disk used
    line = error_of(["train", "--corpus", str(big), "--out", str(tmp_path / "run"), *MICRO],
                    capsys)
    assert f"{big}: 2.0 GiB, more than the corpus limit of 1.0 GiB per file" in line
    small = tmp_path / "small.txt"
    small.write_text("x" * 1000)
    with pytest.raises(InputError, match="takes about 15.6 KiB of memory, more than the"):
        check_corpus_file(small, available=1000)


def test_generated_text_is_streamed_and_bounded(trained, capsys):
    model, tokenizer, _, _ = ckpt.load_trained(trained)
    pieces, prompt = [], tokenizer.encode("ROMEO:")
    stream = TextStream(tokenizer, prompt, pieces.append, interval=0.0)
    out = generate(model, [prompt], 30, seed=1, on_step=stream.step)[0]
    assert stream.finish() == tokenizer.decode(prompt + out) == "".join(pieces)
    assert len(pieces) > 10  # shown as it came, not at the end
    with pytest.raises(InputError, match="max_new_tokens must be an integer in 0..100000"):
        generate(model, [prompt], 100_000_000)


# ---------------------------------------------------------------- CLI numbers

@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "nan"], "--lr: must be a finite number >= 0, got 'nan'"),
    (["train", "--head-size", "0"], "--head-size: must be an integer >= 1, got '0'"),
    (["train", "--ff-hidden", "0"], "--ff-hidden: must be an integer >= 1, got '0'"),
    (["train", "--mlp-window", "0"], "--mlp-window: must be an integer >= 1, got '0'"),
    (["train", "--seed", "-1"], "--seed: must be an integer >= 0, got '-1'"),
    (["train", "--steps", str(10 ** 400)], "--steps: must be an integer >= 1, got '1000"),
    (["train", "--dropout", "1"], "--dropout: must be a finite number in [0, 1), got '1'"),
    (["train", "--val-fraction", "0"], "--val-fraction: must be a finite number in (0, 1)"),
    (["train", "--betas", "0.9", "inf"], "--betas: must be a finite number in [0, 1)"),
    (["train", "--steps", "1e3"], "--steps: must be an integer >= 1, got '1e3'"),
    (["generate", "--checkpoint", "x", "--temperature", "nan"],
     "--temperature: must be a finite number >= 0, got 'nan'"),
    (["generate", "--checkpoint", "x", "--presence-penalty", "nan"],
     "--presence-penalty: must be a finite number, got 'nan'"),
    (["generate", "--checkpoint", "x", "--frequency-penalty=-inf"],
     "--frequency-penalty: must be a finite number, got '-inf'"),
    (["generate", "--checkpoint", "x", "--max-new-tokens", "100000000"],
     "--max-new-tokens: must be an integer in 0..100000, got '100000000'"),
    (["generate", "--checkpoint", "x", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["generate", "--checkpoint", "x", "--num-samples", "0"],
     "--num-samples: must be an integer in 1..1000"),
    (["generate", "--checkpoint", "x", "--repetition-penalty", "0"],
     "--repetition-penalty: must be a finite number > 0"),
    (["evaluate", "--checkpoint", "x", "--estimate-batches", "-3"],
     "--estimate-batches: must be an integer >= 0, got '-3'"),
    (["evaluate", "--checkpoint", "x", "--batch-size", "0"],
     "--batch-size: must be an integer >= 1, got '0'"),
])
def test_every_cli_number_is_checked_with_its_flag_named(argv, message, capsys):
    assert message in error_of(argv, capsys)


# ---------------------------------------------------------------- fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats()
    | st.text(max_size=4) | st.sampled_from(["cpu", "bpe", "gelu", "transformer", "gpt4"])
    | st.sampled_from([10 ** 400, 2 ** 63, -1, 0, 1e308, -0.0]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=2),
    max_leaves=4)
DELETE = object()


def paths_of(tree, prefix=()):
    """Every path (a tuple of keys and indices) into a nest of dicts and lists."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths_of(value, prefix + (key,))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from paths_of(value, prefix + (index,))


def mutated(tree, path, value):
    """A copy of `tree` with the node at `path` replaced by `value` (or deleted; deleting
    the whole tree leaves an empty one)."""
    if not path:
        return (type(tree)() if tree is not None else None) if value is DELETE else value
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        copy = dict(tree)
        if value is DELETE and not rest:
            copy.pop(head, None)
        else:
            copy[head] = mutated(tree.get(head), rest, value)
        return copy
    items = list(tree)
    if value is DELETE and not rest:
        del items[head]
    else:
        items[head] = mutated(items[head], rest, value)
    return type(tree)(items) if isinstance(tree, tuple) else items


@given(data=st.data())
def test_fuzzed_config_json_gives_a_config_or_a_clear_error(data):
    values = Config().to_dict()
    field = data.draw(st.sampled_from([*values, "unknown_field", None]))
    value = data.draw(json_values | st.just(DELETE))
    doc = mutated(values, () if field is None else (field,), value)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(doc))
        try:
            config = Config.load(path)
        except InputError as e:
            assert str(path) in str(e) and "\n" not in str(e)
            return
    assert parameter_count(config, 65) >= 1  # a loaded config is usable


@given(data=st.data())
def test_fuzzed_checkpoint_fields_give_a_model_or_a_clear_error(data, trained, trained_lstm):
    run = data.draw(st.sampled_from([trained, trained_lstm]))
    state = mg.load(run / "last.npz")
    path = data.draw(st.sampled_from(sorted(set(paths_of(state)) - {()}, key=str)))
    value = data.draw(json_values | st.just(DELETE) | st.just(np.zeros(3, np.float32)))
    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_run(run, tmp)
        for name in ("best.npz", "last.npz"):
            mg.save(mutated(state, path, value), copy / name)
        for attempt in (_generate, _resume_and_step):
            try:
                attempt(copy)  # what loads must work
            except InputError as e:
                assert "\n" not in str(e)


def _generate(run):
    model, tokenizer, _, _ = ckpt.load_trained(run)
    generate(model, [tokenizer.encode("ROMEO")], 3, seed=0)


def _resume_and_step(run):
    trainer = Trainer(Config.load(run / "config.json"), run, resume=True, stream=io.StringIO())
    try:
        trainer.setup()
        trainer.train_step()
    except TrainingDiverged:
        pass  # a state that trains into NaN is stopped, which is fine
    finally:
        trainer.rundir.close()


@given(data=st.data())
def test_fuzzed_manifest_nodes_load_or_give_a_clear_error(data, trained):
    with zipfile.ZipFile(trained / "last.npz") as z:
        members = {name: z.read(name) for name in z.namelist()}
    manifest = json.loads(np.load(io.BytesIO(members["__manifest__.npy"])).tobytes())
    path = data.draw(st.sampled_from(sorted(paths_of(manifest), key=str)))
    doc = mutated(manifest, path, data.draw(json_values | st.just(DELETE)))
    raw = io.BytesIO()
    np.save(raw, np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8))
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "last.npz"
        with zipfile.ZipFile(file, "w") as z:
            for name, content in {**members, "__manifest__.npy": raw.getvalue()}.items():
                z.writestr(name, content)
        for read in (mg.load, mg.serialization.describe):
            try:
                read(file)
            except ValueError as e:
                assert str(file) in str(e) and "pickle" not in str(e)


@given(data=st.data())
def test_fuzzed_tokenizer_json_gives_a_tokenizer_or_a_clear_error(data, trained, trained_bpe):
    run = data.draw(st.sampled_from([trained, trained_bpe]))
    doc = json.loads((run / "tokenizer.json").read_text())
    path = data.draw(st.sampled_from(sorted(paths_of(doc), key=str)))
    doc = mutated(doc, path, data.draw(json_values | st.just(DELETE)))
    try:
        tokenizer = tokenizers.loads(json.dumps(doc), "tokenizer.json")
    except ValueError as e:
        assert str(e).startswith("tokenizer.json") and "\n" not in str(e)
        return
    try:
        ids = tokenizer.encode("ROMEO: But soft")
    except ValueError:  # a character outside a char vocabulary
        return
    tokenizer.decode(ids)
