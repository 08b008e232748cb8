"""No trust in crafted files: .npz headers, BPE patterns that backtrack, type-tampered
config.json, checkpoint and tokenizer fields, a checkpoint with another tokenizer, a torn log."""
import io
import json
import math
import time
import zipfile

import numpy as np
import pytest

import minigrad as mg
import tokenizers
from models.cli import main
from models.rundir import LOG, read_log
from models.validation import InputError
from tokenizers import bpe as bpe_module
from run_helpers import copy_run, edit_checkpoints, error_of, replace_tokenizer


# ---------------------------------------------------------------- crafted files

def _rewrite_entry_header(path, entry, shape):
    """The archive with `entry`'s .npy header claiming `shape` (same header length)."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    data = members[f"{entry}.npy"]
    end = data.index(b"\n") + 1
    header = data[:end].decode("latin1")
    start = header.index("'shape': (") + len("'shape': ")
    new = header[:start] + repr(shape) + header[header.index(")", start) + 1:]
    new = new[:-1].rstrip(" ") + " " * (len(header) - len(new[:-1].rstrip(" ")) - 1) + "\n"
    assert len(new) == len(header)
    members[f"{entry}.npy"] = new.encode("latin1") + data[end:]
    with zipfile.ZipFile(path, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)


def test_an_npz_header_claiming_a_huge_array_is_refused_before_allocating(trained, tmp_path,
                                                                         capsys):
    run = copy_run(trained, tmp_path)
    _rewrite_entry_header(run / "best.npz", "a0", (10 ** 12,))
    line = error_of(["generate", "--checkpoint", str(run)], capsys)
    assert "entry a0 claims shape (1000000000000,) of float32 (3.6 TiB) but holds" in line
    with pytest.raises(ValueError, match="claims shape"):
        mg.serialization.describe(run / "best.npz")


def test_npz_entries_that_are_compressed_objects_or_too_large_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    mg.save({"w": mg.zeros(1000)}, path)
    with pytest.raises(ValueError, match="more than the limit of 1.0 KiB"):
        mg.load(path, max_bytes=1024)
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(tmp_path / "deflated.npz", "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            z.writestr(name, content)
    with pytest.raises(ValueError, match="entry .* is compressed"):
        mg.load(tmp_path / "deflated.npz")
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([None, 1], dtype=object), allow_pickle=True)
    members["a0.npy"] = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "objects.npz", "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    with pytest.raises(ValueError, match="dtype object, not a number") as raised:
        mg.load(tmp_path / "objects.npz")
    assert "pickle" not in str(raised.value)


def test_a_text_file_as_checkpoint_names_it_and_never_mentions_pickle(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("step,loss\n1,2.5\n")
    line = error_of(["generate", "--checkpoint", str(path)], capsys)
    assert f"{path} is not a minigrad checkpoint" in line and "not a zip archive" in line
    npy = tmp_path / "one.npy"
    np.save(npy, np.arange(3))
    assert "single .npy array" in error_of(["generate", "--checkpoint", str(npy)], capsys)


def test_a_catastrophic_bpe_pattern_is_refused_without_hanging(trained_bpe, tmp_path, capsys):
    run = copy_run(trained_bpe, tmp_path)
    data = json.loads((run / "tokenizer.json").read_text())
    replace_tokenizer(run, json.dumps({**data, "pattern": "(a|aa)+$"}))
    began = time.monotonic()
    line = error_of(["generate", "--checkpoint", str(run), "--prompt", "a" * 40 + "!"], capsys)
    assert time.monotonic() - began < 10
    assert "tokenizer.json: pattern '(a|aa)+$' takes over" in line
    assert "catastrophic backtracking" in line


def test_a_pattern_that_passes_the_probes_still_runs_under_a_timeout(trained_bpe, tmp_path,
                                                                    capsys, monkeypatch):
    run = copy_run(trained_bpe, tmp_path)
    data = json.loads((run / "tokenizer.json").read_text())
    replace_tokenizer(run, json.dumps({**data, "pattern": "(b|bb)+$"}))
    monkeypatch.setattr(bpe_module, "PATTERN_TIME_LIMIT", (0.2, 0.0))
    line = error_of(["generate", "--checkpoint", str(run), "--prompt", "b" * 60 + "!"], capsys)
    assert "the split pattern '(b|bb)+$' took over 0.2 s on 61 characters" in line


def test_bpe_merges_that_double_a_token_again_and_again_are_refused_quickly(tmp_path):
    merges = [[97, 97]] + [[256 + k, 256 + k] for k in range(60)]  # 2**61 bytes at the end
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"type": "bpe", "version": 1, "pattern": "gpt4",
                                "special_tokens": [], "merges": merges}))
    began = time.monotonic()
    with pytest.raises(ValueError, match="make tokens of more than 64 MiB in all"):
        tokenizers.load(path)
    assert time.monotonic() - began < 5


@pytest.mark.parametrize("field, value, message", [
    ("n_layer", "4", "config.json: field 'n_layer' must be an integer >= 1, got '4'"),
    ("betas", 5, "config.json: field 'betas' must be two numbers, each a finite number in "
                 "[0, 1), got 5"),
    ("lr", "nan", "config.json: field 'lr' must be a finite number >= 0, got 'nan'"),
    ("head_size", 0, "config.json: field 'head_size' must be an integer >= 1 (or null), got 0"),
    ("model", ["gpt"], "config.json: field 'model' must be one of bigram"),
    (None, [1, 2], "config.json: expected a JSON object of settings, got list"),
])
def test_a_type_tampered_config_json_names_the_file_and_field(trained, tmp_path, capsys, field,
                                                              value, message):
    run = copy_run(trained, tmp_path)
    values = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(value if field is None
                                                else {**values, field: value}))
    assert message in error_of(["train", "--out", str(run), "--resume", "--steps", "4"], capsys)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(step="ten"), "field 'step' must be an integer >= 0, got 'ten'"),
    (lambda s: s["config"].update(n_layer="4"), "config: field 'n_layer' must be an integer"),
    (lambda s: s["config"].update(betas=5), "config: field 'betas' must be two numbers"),
    (lambda s: s.update(config=[1]), "config: expected a JSON object of settings, got list"),
    (lambda s: s.update(best_val=math.nan), "field 'best_val' must be a number, got nan"),
    (lambda s: s["model"].update({"wte.weight": mg.zeros(3, 16)}),
     "model.wte.weight has shape (3, 16) (float32); expected"),
    (lambda s: s["model"].pop("ln_f.weight"), "model: missing ln_f.weight"),
    (lambda s: s.update(tokenizer_sha256=7), "field 'tokenizer_sha256' must be a string"),
])
def test_a_type_tampered_checkpoint_names_the_file_and_field(trained, tmp_path, capsys, change,
                                                            message):
    run = copy_run(trained, tmp_path)
    edit_checkpoints(run, change)
    assert message in error_of(["generate", "--checkpoint", str(run)], capsys)
    assert message in error_of(["train", "--out", str(run), "--resume", "--steps", "4"], capsys)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["optimizer"]["param_groups"][0].update(betas=5),
     "optimizer.param_groups[0].betas should be a list of 2, got 5"),
    (lambda s: s["optimizer"]["param_groups"][0].update(lr=-1.0),
     "optimizer.param_groups.0.lr must be a finite number >= 0, got -1.0"),
    (lambda s: s["scheduler"].update(optimizer=None), "scheduler: unexpected optimizer"),
    (lambda s: s["rng"]["batches"].update(bit_generator="MT19937"),
     "cannot restore the training state"),
    (lambda s: s["optimizer"]["state"][0].update(exp_avg=np.zeros(2, np.float32)),
     "optimizer.state.0.exp_avg has shape (2,)"),
    (lambda s: s["optimizer"]["state"].update({99: {}}), "optimizer state index must be"),
])
def test_a_tampered_training_state_is_refused_on_resume(trained, tmp_path, capsys, change,
                                                        message):
    run = copy_run(trained, tmp_path)
    edit_checkpoints(run, change, names=["last.npz"])
    assert message in error_of(["train", "--out", str(run), "--resume", "--steps", "4"], capsys)


def test_a_recurrent_state_of_the_wrong_shape_is_refused(trained_lstm, tmp_path, capsys):
    run = copy_run(trained_lstm, tmp_path)
    edit_checkpoints(run, lambda s: s["data"].update(hidden=[np.zeros((1, 2, 3))] * 2),
                     names=["last.npz"])
    assert "data.hidden[0] has shape (1, 2, 3)" in error_of(
        ["train", "--out", str(run), "--resume", "--steps", "4"], capsys)


def test_a_checkpoint_with_another_tokenizer_is_refused(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    data = json.loads((run / "tokenizer.json").read_text())
    data["chars"] = data["chars"][::-1]  # the same size, another mapping
    (run / "tokenizer.json").write_text(tokenizers.loads(json.dumps(data)).to_json())
    for argv in (["generate", "--checkpoint", str(run)],
                 ["train", "--out", str(run), "--resume", "--steps", "4"],
                 ["evaluate", "--checkpoint", str(run)]):
        line = error_of(argv, capsys)
        assert f"{run / 'tokenizer.json'} is not the tokenizer" in line
        assert "trained with" in line


# ---------------------------------------------------------------- state files

def test_a_cut_off_last_log_line_is_skipped_with_a_message(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    with open(run / LOG, "a") as f:
        f.write('{"step": 3, "train_lo')
    capsys.readouterr()
    status = main(["plot", "--checkpoint", str(run)])
    assert status in (0, 1)  # 1: matplotlib missing
    assert "ignored a cut-off last line" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--steps", "4"]) == 0
    assert "ignored a cut-off last line" in capsys.readouterr().err
    assert [r["step"] for r in read_log(run / LOG)] == [0, 3, 4]  # rewritten whole


def test_a_bad_log_line_elsewhere_names_the_file_and_line(tmp_path):
    path = tmp_path / LOG
    path.write_text('{"step": 0}\nnot json\n{"step": 2}\n')
    with pytest.raises(InputError, match=f"{path}: line 2 is not a JSON record"):
        read_log(path)
    path.write_text('{"step": "ten"}\n')
    with pytest.raises(InputError, match="line 1 is not a log record with an integer step"):
        read_log(path)
