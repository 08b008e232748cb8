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

from minigrad.serialization import write_atomically

from tokenizers.word import SPLITS as WORD_SPLITS
from models.attention import ATTENTIONS, MultiHeadAttentionLM, SingleHeadAttentionLM
from models.generate import MAX_NEW_TOKENS
from models.init import SCHEMES as INITS, apply_init
from models.recurrent import LSTMLM, RNNLM
from models.simple import BigramEmbeddingLM, BigramLM, MLPLM
from models.transformer import POSITIONS, TransformerLM
from models.validation import Bool, Choice, Float, InputError, Int, Maybe, Pair, Text

TOKENIZERS = ("char", "word", "bpe")
SCHEDULES = ("cosine", "constant")
OPTIMIZERS = ("adamw", "adam", "sgd", "rmsprop")
OBJECTIVES = ("all", "last")
AMP_MODES = ("off", "float16", "bfloat16")
NAN_POLICIES = ("stop", "skip")
MAX_CONFIG_BYTES = 1 << 20  # a config.json larger than this is refused unread


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
                                                      c.dropout, causal=c.causal),
    "multi-head": lambda c, v: MultiHeadAttentionLM(v, c.context, c.n_embd, c.n_head, c.dropout,
                                                    c.bias, c.feedforward, c.attention,
                                                    causal=c.causal),
    "transformer": lambda c, v: TransformerLM(
        v, c.context, c.n_layer, c.n_head, c.n_embd, c.ff_hidden, c.ff_variant, c.activation,
        c.dropout, c.bias, c.tie_weights, c.positions, c.norm, c.attention, causal=c.causal),
}


def _setting(default, help, spec, choices=None):
    """A Config field with its --help text and the values it accepts (models.validation)."""
    return field(default=default, metadata={"help": help, "spec": spec, "choices": choices})


POSITIVE, COUNT = Int(1), Int(0)


@dataclass
class Config:
    """Every setting of a run; the help of each field is the --help text of its flag."""

    # ---- model
    model: str = _setting("transformer", "bigram, bigram-emb, mlp, rnn, lstm, single-head, "
                          "multi-head or transformer", Choice(MODELS))
    n_layer: int = _setting(4, "transformer blocks, or layers of rnn, lstm and mlp", POSITIVE)
    n_head: int = _setting(4, "attention heads", POSITIVE)
    n_embd: int = _setting(128, "embedding width", POSITIVE)
    head_size: Optional[int] = _setting(None, "single-head: width of the head (default n_embd)",
                                        Maybe(POSITIVE))
    ff_hidden: Optional[int] = _setting(None, "feed-forward hidden width (default 4 * n_embd)",
                                        Maybe(POSITIVE))
    ff_variant: str = _setting("hw4", "feed-forward: hw4 (2 layers) or gelu3 (3 layers, thesis)",
                               Choice(("hw4", "gelu3")))
    activation: str = _setting("gelu", "feed-forward and mlp activation: relu, gelu, tanh "
                               "(gelu_tanh: transformer only)",
                               Choice(("relu", "gelu", "tanh", "gelu_tanh")))
    hidden_size: int = _setting(128, "rnn, lstm, mlp: hidden width", POSITIVE)
    mlp_window: Optional[int] = _setting(None, "mlp: tokens seen per prediction (default "
                                         "context)", Maybe(POSITIVE))
    feedforward: bool = _setting(False, "multi-head: the HW4 feed-forward after attention",
                                 Bool())
    dropout: float = _setting(0.0, "dropout probability while training",
                              Float(0, 1, high_open=True))
    bias: bool = _setting(False, "biases in Linear and LayerNorm (transformer, multi-head)",
                          Bool())
    tie_weights: bool = _setting(True, "transformer: the head shares the token embedding",
                                 Bool())
    positions: str = _setting("learned", "transformer positions: learned, sinusoidal or rope",
                              Choice(POSITIONS))
    norm: str = _setting("pre", "transformer LayerNorm placement: pre or post",
                         Choice(("pre", "post")))
    causal: bool = _setting(True, "attention models: mask later positions (--no-causal: each "
                            "position sees the whole window, as seed 004's toy model)", Bool())
    attention: str = _setting("standard", "multi-head, transformer: standard heads (width "
                              "n_embd / n_head) or hw4 (key and query n_embd / n_head, value "
                              "n_embd per head, joined by Linear(n_head * n_embd, n_embd))",
                              Choice(ATTENTIONS))
    init: str = _setting("model", "weights: model (each model's own), torch (PyTorch's layer "
                         "defaults), normal (N(0, 0.02), biases 0: HW4) or xavier (Xavier "
                         "uniform Linear weights, N(0, 0.02) embeddings, biases 0: the thesis)",
                         Choice(INITS))
    # ---- data
    corpus: Optional[str] = _setting(None, "text file or directory of splits (default: the "
                                     "bundled Tiny Shakespeare)", Maybe(Text()))
    tokenizer: str = _setting("char", "char, word or bpe", Choice(TOKENIZERS))
    vocab_size: Optional[int] = _setting(None, "bpe: vocabulary size; word: largest vocabulary",
                                         Maybe(POSITIVE))
    min_freq: Optional[int] = _setting(None, "word: keep words seen at least this often",
                                       Maybe(POSITIVE))
    lower: Optional[bool] = _setting(None, "word: lowercase the text", Maybe(Bool()))
    word_split: Optional[str] = _setting(None, "word: regex (words, punctuation, newlines) or "
                                         "spaces (the Cervantes notebook: .!?,:; split off, "
                                         "then whitespace)", Maybe(Choice(WORD_SPLITS)))
    val_fraction: float = _setting(0.1, "share of a single-file corpus held out for val",
                                   Float(0, 1, low_open=True, high_open=True))
    test_fraction: float = _setting(0.0, "share of a single-file corpus held out for test, "
                                    "after val (0: no test split)",
                                    Float(0, 1, high_open=True))
    context: int = _setting(64, "tokens per training sequence (block size; BPTT length)",
                            POSITIVE)
    batch_size: int = _setting(32, "sequences per micro-batch", POSITIVE)
    objective: str = _setting("all", "all: loss at every position of random windows; last: "
                              "loss at the last position of every stride-1 window, shuffled "
                              "each epoch (the Cervantes notebook)", Choice(OBJECTIVES))
    epochs: Optional[int] = _setting(None, "objective last: train this many epochs (sets "
                                     "steps; a --steps given overrides it)", Maybe(POSITIVE))
    # ---- optimisation
    optimizer: str = _setting("adamw", "adamw, adam, sgd or rmsprop", Choice(OPTIMIZERS))
    lr: float = _setting(1e-3, "peak learning rate", Float(0))
    min_lr: float = _setting(1e-4, "cosine schedule: the learning rate at the last step",
                             Float(0))
    schedule: str = _setting("cosine", "after the warmup: cosine (down to min_lr) or constant",
                             Choice(SCHEDULES))
    warmup_steps: int = _setting(100, "linear warmup steps", COUNT)
    betas: tuple = _setting((0.9, 0.99), "Adam betas", Pair(Float(0, 1, high_open=True)))
    eps: float = _setting(1e-8, "Adam and RMSprop epsilon", Float(0))
    momentum: float = _setting(0.0, "sgd and rmsprop momentum", Float(0))
    dampening: float = _setting(0.0, "sgd dampening", Float(0, 1))
    nesterov: bool = _setting(False, "sgd Nesterov momentum", Bool())
    alpha: float = _setting(0.99, "rmsprop smoothing constant", Float(0, 1))
    weight_decay: float = _setting(0.1, "weight decay (decoupled for adamw, L2 for the others)",
                                   Float(0))
    decay_all: bool = _setting(False, "weight decay on every parameter (as PyTorch's "
                               "model.parameters()), not only on matrices", Bool())
    grad_clip: float = _setting(1.0, "clip the global gradient norm to this (0: off)", Float(0))
    grad_accum: int = _setting(1, "micro-batches per optimiser step", POSITIVE)
    amp: str = _setting("off", "mixed precision: matmuls in float16 (with dynamic loss "
                        "scaling) or bfloat16 (cuda only), float32 master weights",
                        Choice(AMP_MODES), choices=AMP_MODES)
    steps: int = _setting(2000, "optimiser steps", POSITIVE)
    nan_policy: str = _setting("stop", "a non-finite loss or gradient norm: stop (keeping the "
                               "last good checkpoint) or skip that update", Choice(NAN_POLICIES))
    detect_anomaly: bool = _setting(False, "name the op whose backward made a NaN or inf "
                                    "(slower)", Bool())
    # ---- evaluation, checkpoints
    eval_every: int = _setting(250, "evaluate and checkpoint every this many steps", POSITIVE)
    eval_batches: int = _setting(20, "random batches per split for the loss estimate", POSITIVE)
    patience: int = _setting(0, "stop after this many evaluations without a better val loss "
                             "(0: never)", COUNT)
    final_eval: bool = _setting(True, "at the end, the loss over every window of the val split",
                                Bool())
    sample_tokens: int = _setting(300, "tokens sampled into samples.txt at the end (0: none)",
                                  Int(0, MAX_NEW_TOKENS))
    seed: int = _setting(1337, "seeds the weights, dropout and batches", Int(0))
    device: str = _setting("cpu", "cpu or cuda", Text())
    threads: int = _setting(2, "cpu: split each batch over this many threads, one-thread BLAS "
                            "each (NumPy's element-wise work uses one core); recurrent models "
                            "and batches that do not divide run whole", Int(1, 1024))
    description: str = field(default="", metadata={"cli": False, "spec": Text()})

    def __post_init__(self):
        if isinstance(self.betas, list):
            self.betas = tuple(self.betas)

    @classmethod
    def from_dict(cls, values, source=None):
        """A Config from a dict such as config.json, every field checked (an InputError
        naming `source` and the field); unknown keys are an error."""
        where = f"{source}: " if source else ""
        if not isinstance(values, dict):
            raise InputError(f"{where}expected a JSON object of settings, got "
                             f"{type(values).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(values) - names))
        if unknown:
            raise InputError(f"{where}unknown config field(s): {', '.join(unknown)}")
        return cls(**values).validate(source)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path):
        """Write config.json atomically (a crash leaves the old file or the new one)."""
        write_atomically(path, lambda f: f.write(self.to_json().encode("utf-8")))

    @classmethod
    def load(cls, path):
        """The Config in a config.json; an InputError naming the file and the field."""
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        try:
            if len(data) > MAX_CONFIG_BYTES:
                raise ValueError(f"larger than {MAX_CONFIG_BYTES >> 20} MiB")
            values = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError) as e:  # JSON and UTF-8 errors are ValueErrors
            raise InputError(f"{path}: not a config file (expected JSON: {e})") from None
        return cls.from_dict(values, source=path)

    def validate(self, source=None):
        """Every field checked against its spec, then the combinations that cannot work:
        an InputError naming the field (and `source`, the file it came from)."""
        for f in fields(self):
            name = f"{source}: field {f.name!r}" if source else f.name
            f.metadata["spec"].validate(name, getattr(self, f.name))
        self.betas = tuple(self.betas)
        where = f"{source}: " if source else ""
        if self.amp == "bfloat16" and self.device == "cpu":
            raise InputError(f"{where}amp bfloat16 needs --device cuda (NumPy has no "
                             f"bfloat16); use --amp float16 on the cpu")
        if self.val_fraction + self.test_fraction >= 1:
            raise InputError(f"{where}val_fraction {self.val_fraction} + test_fraction "
                             f"{self.test_fraction} leave nothing to train on")
        if self.epochs is not None and self.objective != "last":
            raise InputError(f"{where}epochs counts passes over the stride-1 windows of "
                             f"objective 'last'; with objective {self.objective!r} use steps")
        if self.model in ("multi-head", "transformer") and self.n_embd % self.n_head:
            raise InputError(f"{where}n_embd {self.n_embd} is not divisible by n_head "
                             f"{self.n_head}")
        return self

    def tokenizer_options(self):
        """The options of `models.data.build_tokenizer` for this tokenizer kind."""
        if self.tokenizer == "bpe":
            return {"vocab_size": self.vocab_size}
        if self.tokenizer == "word":
            return {"lower": self.lower, "min_freq": self.min_freq, "max_vocab": self.vocab_size,
                    "split": self.word_split}
        return {"vocab_size": self.vocab_size}  # char takes none: build_tokenizer rejects one given


def build_model(config, vocab_size):
    """The model that `config` describes, for a vocabulary of `vocab_size` tokens, with
    fresh weights drawn from minigrad's seeded generator."""
    config.validate()
    return apply_init(MODELS[config.model](config, vocab_size), config.init)
