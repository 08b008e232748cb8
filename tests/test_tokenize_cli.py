"""`minigrad tokenize`: one token a line, from a run's tokenizer or a ranks file."""
import base64

from models.cli import main
from tokenizers import BPETokenizer, CharTokenizer


def test_tokenize_a_run_prints_id_and_piece_per_line(tmp_path, capsys):
    tok = CharTokenizer.train("ROMEO: hi\n")
    (tmp_path / "run").mkdir()
    tok.save(tmp_path / "run" / "tokenizer.json")
    assert main(["tokenize", "--checkpoint", str(tmp_path / "run"), "hi\nO"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split() for line in lines] == [
        [str(tok.encode("h")[0]), '"h"'], [str(tok.encode("i")[0]), '"i"'],
        [str(tok.encode("\n")[0]), '"\\n"'], [str(tok.encode("O")[0]), '"O"']]
    assert captured.err.strip() == "4 tokens for 4 characters"


def test_tokenize_with_a_ranks_file_and_special_tokens(tmp_path, capsys):
    tokens = [bytes([b]) for b in range(256)] + [b"bo", b"ok", b"book"]
    path = tmp_path / "toy.tiktoken"
    path.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for r, t in enumerate(tokens)))
    argv = ["tokenize", "--tokenizer", str(path), "book<|endoftext|>"]
    # Without --encoding the pattern is cl100k and there are no special tokens.
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["258", '"book"'] and len(out) == 1 + len("<|endoftext|>")
    path.rename(tmp_path / "gpt2.tiktoken")  # a name that is an encoding: its special token
    argv[2] = str(tmp_path / "gpt2.tiktoken")
    # (gpt2's <|endoftext|> is 50256, past the toy ranks: allowed by the id range check)
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1].split() == ["50256", '"<|endoftext|>"']
    assert main(argv + ["--allowed-special", "none"]) == 2
    assert "disallowed" in capsys.readouterr().err


def test_tokenize_a_tokenizer_json(tmp_path, capsys):
    tok = BPETokenizer.train("low lower lowest " * 20, 260)
    tok.save(tmp_path / "bpe.json")
    assert main(["tokenize", "--tokenizer", str(tmp_path / "bpe.json"), "lowest"]) == 0
    pieces = [line.split(maxsplit=1)[1] for line in capsys.readouterr().out.splitlines()]
    assert "".join(p.strip('"') for p in pieces) == "lowest"
    assert main(["tokenize", "--checkpoint", str(tmp_path), "x"]) == 2
    assert "no tokenizer.json" in capsys.readouterr().err
