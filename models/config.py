"""The settings of a training run (`Config`) and the model they describe (`build_model`).

A run is fully described by one flat `Config`: the model, the data, the optimiser, the
schedule of evaluations. Presets (models/presets.py) are partial dicts over these defaults,
the command line has one flag per field (`--batch-size` for `batch_size`), and a run
directory keeps the config it ran with in `config.json`.

The defaults are the `tiny` preset: a 4-layer GPT, 128 wide, context 64, trained for 2,000
steps with AdamW (warmup 100 steps, then cosine from 1e-3 down to 1e-4).
"""
import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Optional

from models.attention import MultiHeadAttentionLM, SingleHeadAttentionLM
from models.recurrent import LSTMLM, RNNLM
from models.simple import BigramEmbeddingLM, BigramLM, MLPLM
from models.transformer import POSITIONS, TransformerLM

TOKENIZERS = ("char", "word", "bpe")
SCHEDULES = ("cosine", "constant")
OPTIMIZERS = ("adamw", "adam")
AMP_MODES = ("off", "float16", "bfloat16")


def _setting(default, help, choices=None):
    """A Config field with its --help text (and the values its flag accepts)."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class Config:
    """Every setting of a run; the help of each field is the --help text of its flag."""

    # ---- model
    model: str = _setting("transformer", "bigram, bigram-emb, mlp, rnn, lstm, single-head, "
                          "multi-head or transformer")
    n_layer: int = _setting(4, "transformer blocks, or layers of rnn, lstm and mlp")
    n_head: int = _setting(4, "attention heads")
    n_embd: int = _setting(128, "embedding width")
    head_size: Optional[int] = _setting(None, "single-head: width of the head (default n_embd)")
    ff_hidden: Optional[int] = _setting(None, "feed-forward hidden width (default 4 * n_embd)")
    ff_variant: str = _setting("hw4", "feed-forward: hw4 (2 layers) or gelu3 (3 layers, thesis)")
    activation: str = _setting("gelu", "feed-forward and mlp activation: relu, gelu, tanh "
                               "(gelu_tanh: transformer only)")
    hidden_size: int = _setting(128, "rnn, lstm, mlp: hidden width")
    mlp_window: Optional[int] = _setting(None, "mlp: tokens seen per prediction (default context)")
    feedforward: bool = _setting(False, "multi-head: the HW4 feed-forward after attention")
    dropout: float = _setting(0.0, "dropout probability while training")
    bias: bool = _setting(False, "biases in Linear and LayerNorm (transformer, multi-head)")
    tie_weights: bool = _setting(True, "transformer: the head shares the token embedding")
    positions: str = _setting("learned", "transformer positions: learned, sinusoidal or rope")
    norm: str = _setting("pre", "transformer LayerNorm placement: pre or post")
    # ---- data
    corpus: Optional[str] = _setting(None, "text file or directory of splits (default: the "
                                     "bundled Tiny Shakespeare)")
    tokenizer: str = _setting("char", "char, word or bpe")
    vocab_size: Optional[int] = _setting(None, "bpe: vocabulary size; word: largest vocabulary")
    min_freq: Optional[int] = _setting(None, "word: keep words seen at least this often")
    lower: Optional[bool] = _setting(None, "word: lowercase the text")
    val_fraction: float = _setting(0.1, "share of a single-file corpus held out for val")
    context: int = _setting(64, "tokens per training sequence (block size; BPTT length)")
    batch_size: int = _setting(32, "sequences per micro-batch")
    # ---- optimisation
    optimizer: str = _setting("adamw", "adamw or adam")
    lr: float = _setting(1e-3, "peak learning rate")
    min_lr: float = _setting(1e-4, "cosine schedule: the learning rate at the last step")
    schedule: str = _setting("cosine", "after the warmup: cosine (down to min_lr) or constant")
    warmup_steps: int = _setting(100, "linear warmup steps")
    betas: tuple = _setting((0.9, 0.99), "Adam betas")
    eps: float = _setting(1e-8, "Adam epsilon")
    weight_decay: float = _setting(0.1, "decoupled weight decay, on matrices only")
    grad_clip: float = _setting(1.0, "clip the global gradient norm to this (0: off)")
    grad_accum: int = _setting(1, "micro-batches per optimiser step")
    amp: str = _setting("off", "mixed precision: matmuls in float16 (with dynamic loss "
                        "scaling) or bfloat16 (cuda only), float32 master weights",
                        choices=AMP_MODES)
    steps: int = _setting(2000, "optimiser steps")
    # ---- evaluation, checkpoints
    eval_every: int = _setting(250, "evaluate and checkpoint every this many steps")
    eval_batches: int = _setting(20, "random batches per split for the loss estimate")
    patience: int = _setting(0, "stop after this many evaluations without a better val loss "
                             "(0: never)")
    final_eval: bool = _setting(True, "at the end, the loss over every window of the val split")
    sample_tokens: int = _setting(300, "tokens sampled into samples.txt at the end (0: none)")
    seed: int = _setting(1337, "seeds the weights, dropout and batches")
    device: str = _setting("cpu", "cpu or cuda")
    threads: int = _setting(2, "cpu: split each batch over this many threads, one-thread BLAS "
                            "each (NumPy's element-wise work uses one core); recurrent models "
                            "and batches that do not divide run whole")
    description: str = field(default="", metadata={"cli": False})

    def __post_init__(self):
        self.betas = tuple(self.betas)

    @classmethod
    def from_dict(cls, values):
        """A Config from a dict such as config.json; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def validate(self):
        """A ValueError naming the first setting that cannot work."""
        choices = {"model": MODELS, "tokenizer": TOKENIZERS, "schedule": SCHEDULES,
                   "optimizer": OPTIMIZERS, "positions": POSITIONS,
                   "norm": ("pre", "post"), "ff_variant": ("hw4", "gelu3"), "amp": AMP_MODES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        for name in ("n_layer", "n_head", "n_embd", "hidden_size", "context", "batch_size",
                     "grad_accum", "steps", "eval_every", "eval_batches", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "patience", "sample_tokens", "grad_clip", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.amp == "bfloat16" and self.device == "cpu":
            raise ValueError("amp bfloat16 needs --device cuda (NumPy has no bfloat16); "
                             "use --amp float16 on the cpu")
        if self.model in ("multi-head", "transformer") and self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        return self

    def tokenizer_options(self):
        """The options of `models.data.build_tokenizer` for this tokenizer kind."""
        if self.tokenizer == "bpe":
            return {"vocab_size": self.vocab_size}
        if self.tokenizer == "word":
            return {"lower": self.lower, "min_freq": self.min_freq, "max_vocab": self.vocab_size}
        return {"vocab_size": self.vocab_size}  # char takes none: build_tokenizer rejects one given


# kind -> function(config, vocab_size) building the model.
MODELS = {
    "bigram": lambda c, v: BigramLM(v),
    "bigram-emb": lambda c, v: BigramEmbeddingLM(v, c.n_embd),
    "mlp": lambda c, v: MLPLM(v, c.mlp_window or c.context, c.n_embd, c.hidden_size, c.n_layer,
                              c.activation, c.dropout),
    "rnn": lambda c, v: RNNLM(v, emb_dim=c.n_embd, hidden_size=c.hidden_size,
                              num_layers=c.n_layer, dropout=c.dropout),
    "lstm": lambda c, v: LSTMLM(v, emb_dim=c.n_embd, hidden_size=c.hidden_size,
                              num_layers=c.n_layer, dropout=c.dropout),
    "single-head": lambda c, v: SingleHeadAttentionLM(v, c.context, c.n_embd, c.head_size,
                                                      c.dropout),
    "multi-head": lambda c, v: MultiHeadAttentionLM(v, c.context, c.n_embd, c.n_head, c.dropout,
                                                    c.bias, c.feedforward),
    "transformer": lambda c, v: TransformerLM(
        v, c.context, c.n_layer, c.n_head, c.n_embd, c.ff_hidden, c.ff_variant, c.activation,
        c.dropout, c.bias, c.tie_weights, c.positions, c.norm),
}


def build_model(config, vocab_size):
    """The model that `config` describes, for a vocabulary of `vocab_size` tokens, with
    fresh weights drawn from minigrad's seeded generator."""
    config.validate()
    return MODELS[config.model](config, vocab_size)
