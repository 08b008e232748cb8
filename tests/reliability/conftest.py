"""The trained runs the reliability tests edit, crash and tamper with: each trained once per
session (a few steps of a tiny model), then copied by the tests that change them."""
import pytest

from models.cli import main
from run_helpers import MICRO, TEXT


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(TEXT)
    return str(path)


def _train(corpus, run, *extra):
    assert main(["train", "--corpus", corpus, "--out", str(run), "--steps", "3",
                 "--eval-every", "3", *MICRO, *extra]) == 0
    return run


@pytest.fixture(scope="session")
def trained(corpus, tmp_path_factory):
    return _train(corpus, tmp_path_factory.mktemp("runs") / "char")


@pytest.fixture(scope="session")
def trained_lstm(corpus, tmp_path_factory):
    return _train(corpus, tmp_path_factory.mktemp("runs") / "lstm", "--model", "lstm",
                  "--hidden-size", "8")


@pytest.fixture(scope="session")
def trained_bpe(corpus, tmp_path_factory):
    return _train(corpus, tmp_path_factory.mktemp("runs") / "bpe", "--tokenizer", "bpe",
                  "--vocab-size", "260")
