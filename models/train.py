"""Training a language model on a corpus, with checkpoints that resume exactly.

    trainer = Trainer(config, "runs/tiny")           # config: models.config.Config
    summary = trainer.run()                          # or: train(config, "runs/tiny")
    Trainer(config, "runs/tiny", resume=True).run()  # go on from runs/tiny/last.npz

One optimiser step: `grad_accum` micro-batches of `batch_size` sequences, each one's loss
divided by `grad_accum` and backpropagated (so the gradients add up to the gradient of the
mean); the global gradient norm clipped to `grad_clip`; AdamW (or Adam) with weight decay
on matrices only; the learning rate of the schedule (linear warmup, then cosine decay to
`min_lr` at the last step, or constant). Transformers and the other window models learn
from random windows of the train split (HW4's get_batch); RNNs and LSTMs from contiguous
chunks, their hidden state carried from chunk to chunk and detached (truncated BPTT).
With `amp` float16 or bfloat16 the forward runs under `minigrad.amp.autocast` (matrix
products in the low precision, float32 weights); float16 also scales the loss
(`minigrad.amp.GradScaler`), and a step whose gradients overflow is skipped.

Evaluation at step 0, every `eval_every` steps and at the last step: the mean loss of
`eval_batches` random batches of train and val (the same batches every time, drawn from
a generator of their own, so evaluating never changes what training sees), a line in
log.jsonl, and checkpoints: best.npz when val improves, last.npz always. With `patience`,
training stops after that many evaluations without a better val loss. At the end: the loss
over the whole val split, loss.png and samples.txt (the run directory layout is in
models/checkpoint.py).

Exact resume: a checkpoint holds the weights, the optimiser's moments, the schedule, the
loss scale, both random generators (weights and dropout; batches), the step, the data
position and the recurrent state, so a run stopped at step k and resumed ends with the
same weights, bit for bit, as the same run never stopped. Ctrl-C finishes the current
step, saves last.npz and returns; a second Ctrl-C interrupts at once.
"""
import contextlib
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

import minigrad as mg
import tokenizers
from minigrad import amp, optim
from minigrad import functional as F
from minigrad.nn.utils import clip_grad_norm_
from minigrad.parallel import split_backward

from models import checkpoint as ckpt
from models.base import detach_state
from models.config import Config, build_model
from models.data import (
    SequentialBatcher, build_tokenizer, default_corpus_path, get_batch, prepare, training_text)
from models.evaluate import estimate_loss, evaluate_split, to_ids
from models.generate import default_prompt, generate
from models.plot import plot_loss_curve
from models.progress import Progress

# Fields that may change when a run is resumed; any other difference is an error, since
# the checkpoint could not continue the same run.
RESUMABLE = {"steps", "eval_every", "eval_batches", "patience", "final_eval", "sample_tokens",
             "device", "description"}


class Trainer:
    def __init__(self, config, run_dir, resume=False, stream=None):
        self.config = config.validate()
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.progress = Progress(stream if stream is not None else sys.stderr)
        self.on_step = None  # callback(step) after every step (tests stop runs with it)
        self._stop_reason = None

    # ------------------------------------------------------------ set-up

    def setup(self):
        """Tokenizer, data, model, optimiser and schedule; restored from last.npz on resume."""
        c = self.config
        mg.backend.xp_for_device(c.device)  # a clear error now if the device is missing
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = self._check_run_dir()
        corpus = c.corpus or default_corpus_path()
        tok_path = self.run_dir / ckpt.TOKENIZER
        if state is None:  # a new run learns its tokenizer; a resumed one keeps its own
            tokenizer = build_tokenizer(c.tokenizer, training_text(corpus), **c.tokenizer_options())
            tokenizer.save(tok_path)
        self.tokenizer = tokenizers.load(tok_path)
        self.splits = prepare(corpus, tok_path, self.run_dir / ckpt.CACHE, c.val_fraction)
        c.save(self.run_dir / ckpt.CONFIG)

        mg.manual_seed(c.seed)
        self.model = build_model(c, self.tokenizer.vocab_size).to(c.device)
        self._check_split_sizes()
        opt_class = {"adamw": optim.AdamW, "adam": optim.Adam}[c.optimizer]
        self.optimizer = opt_class(self.model.param_groups(c.weight_decay), lr=c.lr,
                                   betas=c.betas, eps=c.eps)
        # float16 needs loss scaling; bfloat16 has float32's range and does not.
        self.scaler = amp.GradScaler(enabled=c.amp == "float16")
        min_lr = c.min_lr if c.schedule == "cosine" else c.lr
        # A run shorter than the warmup (a quick timing, a test) warms up over all of it.
        self.scheduler = optim.lr_scheduler.WarmupCosineLR(
            self.optimizer, min(c.warmup_steps, c.steps), c.steps, min_lr)
        self.batch_rng = np.random.default_rng(c.seed)
        self.batcher = (SequentialBatcher(self.splits["train"], c.batch_size, c.context)
                        if self.model.recurrent else None)
        self.hidden = None
        self.step, self.best_val, self.evals_since_best = 0, math.inf, 0
        self.tokens, self.elapsed = 0, 0.0
        if state is not None:
            self._restore(state)

    def _check_run_dir(self):
        """The checkpoint to resume from (or None); never starts afresh over an existing run."""
        last = self.run_dir / ckpt.LAST
        if not self.resume:
            if last.exists():
                raise ValueError(f"{self.run_dir} already holds a run ({ckpt.LAST}); pass "
                                 f"--resume to continue it, or choose another --out")
            return None
        if not last.is_file():
            raise FileNotFoundError(f"{self.run_dir}: nothing to resume (no {ckpt.LAST})")
        state = ckpt.load_checkpoint(last)
        saved = Config.from_dict(state["config"])
        differ = [f"{f} ({getattr(saved, f)!r} -> {getattr(self.config, f)!r})"
                  for f in saved.to_dict()
                  if f not in RESUMABLE and getattr(saved, f) != getattr(self.config, f)]
        if differ:
            raise ValueError(f"cannot resume {self.run_dir} with other settings: "
                             f"{', '.join(differ)}")
        return state

    def _check_split_sizes(self):
        c = self.config
        train, val = len(self.splits["train"]), len(self.splits["val"])
        if train < c.context + 1:
            raise ValueError(f"the train split has {train} tokens, too few for one window of "
                             f"--context {c.context} plus its target; use a longer corpus or "
                             f"a smaller --context")
        if self.model.recurrent and train // c.batch_size < 2:
            raise ValueError(f"the train split has {train} tokens, too few for "
                             f"{c.batch_size} streams of at least 2; use a smaller --batch-size")
        if val < 2:
            raise ValueError(f"the val split has {val} tokens: too few to evaluate (at least 2)")

    # ------------------------------------------------------------ checkpoints

    def state(self):
        return {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "rng": {"minigrad": mg.get_rng_state(), "batches": self.batch_rng.bit_generator.state},
            "data": {"position": self.batcher.position if self.batcher else None,
                     "hidden": _hidden_arrays(self.hidden)},
            "best_val": self.best_val, "evals_since_best": self.evals_since_best,
            "tokens": self.tokens, "elapsed": self.elapsed,
        }

    def _restore(self, state):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.scheduler.max_steps != self.config.steps:
            # Resumed with other --steps: the schedule now ends at the new last step.
            self.scheduler.max_steps = self.config.steps
            for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_lr()):
                group["lr"] = lr
        mg.set_rng_state(state["rng"]["minigrad"])
        self.batch_rng.bit_generator.state = state["rng"]["batches"]
        if self.batcher is not None:
            self.batcher.position = state["data"]["position"]
        self.hidden = _hidden_tensors(state["data"]["hidden"], self.config.device)
        self.step = state["step"]
        self.best_val, self.evals_since_best = state["best_val"], state["evals_since_best"]
        self.tokens, self.elapsed = state["tokens"], state["elapsed"]
        _truncate_log(self.run_dir / ckpt.LOG, self.step)

    def save(self, *names):
        state = self.state()
        for name in names:
            ckpt.save_checkpoint(self.run_dir / name, state)

    # ------------------------------------------------------------ the loop

    def run(self):
        """Train to `steps` (or an early stop, or Ctrl-C); returns a summary dict."""
        self.setup()
        c = self.config
        self.progress.start(self.step, c.steps, self.model.num_parameters(), self.run_dir)
        with _StopOnInterrupt(self):
            if self.step == 0 and not self.resume:
                self.evaluate()
            start = time.perf_counter() - self.elapsed
            while self.step < c.steps and self._stop_reason is None:
                lr, tokens = self.scheduler.get_last_lr()[0], self.tokens
                began = time.perf_counter()
                loss = self.train_step()
                self.step += 1
                self.elapsed = time.perf_counter() - start
                self.progress.update(self.step, loss, lr, self.tokens - tokens,
                                     time.perf_counter() - began)
                if self.on_step is not None:
                    self.on_step(self.step)
                if self.step % c.eval_every == 0 or self.step == c.steps:
                    self.evaluate()
        if self._stop_reason == "interrupted":
            self.save(ckpt.LAST)
            self.progress.message(f"interrupted at step {self.step}: saved "
                                  f"{self.run_dir / ckpt.LAST}; continue with --resume")
            return self.summary()
        return self.finish()

    def request_stop(self, reason="interrupted"):
        """Stop after the current step (and save last.npz)."""
        self._stop_reason = reason

    def train_step(self):
        """One optimiser step; returns the mean training loss of its micro-batches."""
        c = self.config
        self.model.train()
        self.optimizer.zero_grad()
        total = 0.0
        for _ in range(c.grad_accum):
            x, y = self.next_batch()
            if self._split_batches(x):
                total += split_backward(self._scaled_loss, list(self.model.parameters()), (x, y),
                                        c.threads) * c.grad_accum / self.scaler.get_scale()
            else:
                with self._autocast():
                    if self.model.recurrent:
                        logits, hidden = self.model(x, self.hidden)
                        self.hidden = detach_state(hidden)
                    else:
                        logits = self.model(x)
                    loss = F.cross_entropy(logits, y)
                self.scaler.scale(loss * (1.0 / c.grad_accum)).backward()
                total += loss.item()
            self.tokens += y.numel()
        # Without --amp float16 the scaler passes everything through unchanged.
        self.scaler.unscale_(self.optimizer)
        if c.grad_clip:
            clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return total / c.grad_accum

    def _split_batches(self, x):
        c = self.config
        return (c.threads > 1 and c.device == "cpu" and not self.model.recurrent
                and x.shape[0] % c.threads == 0)

    def _scaled_loss(self, x, y):
        """The loss of a shard, scaled for gradient accumulation and by the loss scaler
        (split_backward reports the mean of these; the caller unscales it again)."""
        with self._autocast():  # in the shard's own thread: autocast is per thread
            loss = F.cross_entropy(self.model(x), y)
        return self.scaler.scale(loss * (1.0 / self.config.grad_accum))

    def _autocast(self):
        """The precision of a forward pass: autocast under --amp, else unchanged."""
        amp_mode = self.config.amp
        return amp.autocast(amp_mode) if amp_mode != "off" else contextlib.nullcontext()

    def next_batch(self):
        """(x, y) id tensors: the next chunk (recurrent models) or random windows."""
        c = self.config
        if self.batcher is None:
            x, y = get_batch(self.splits["train"], c.batch_size, c.context, self.batch_rng)
        else:
            if self.batcher.position >= len(self.batcher):  # a new epoch starts from zeros
                self.batcher.position, self.hidden = 0, None
            x, y = self.batcher.chunk(self.batcher.position)
            self.batcher.position += 1
        return to_ids(x, c.device), to_ids(y, c.device)

    def evaluate(self):
        """Estimate train and val loss, log them, checkpoint, and decide on early stopping."""
        c = self.config
        splits = {name: self.splits[name] for name in ("train", "val")}
        losses = estimate_loss(self.model, splits, c.context, c.batch_size, c.eval_batches,
                               np.random.default_rng(c.seed + 1))
        improved = losses["val"] < self.best_val
        if improved:
            self.best_val, self.evals_since_best = losses["val"], 0
        else:
            self.evals_since_best += 1
        record = {"step": self.step, "train_loss": losses["train"], "val_loss": losses["val"],
                  "lr": self.scheduler.get_last_lr()[0], "tokens": self.tokens,
                  "time": round(self.elapsed, 3)}
        _append_jsonl(self.run_dir / ckpt.LOG, record)
        self.progress.evaluation(record, improved)
        if c.patience and self.evals_since_best >= c.patience and self.step < c.steps:
            self.request_stop("early stop")
            self.progress.message(f"early stop: val loss has not improved for {c.patience} "
                                  f"evaluations (best {self.best_val:.4f})")
        self.save(*([ckpt.BEST, ckpt.LAST] if improved else [ckpt.LAST]))

    def finish(self):
        """The end of a run: full val loss, loss curve, samples."""
        c = self.config
        result = self.summary()
        if c.final_eval:
            full = evaluate_split(self.model, self.splits["val"], c.context, c.batch_size,
                                  self.tokenizer)
            result["full_val"] = full
            _append_jsonl(self.run_dir / ckpt.LOG, {
                "step": self.step, "full_val_loss": full["loss"],
                "perplexity": full["perplexity"], "bits_per_char": full["bits_per_char"]})
            self.progress.message(f"val loss over the whole split (last weights): "
                                  f"{full['loss']:.4f} (perplexity {full['perplexity']:.2f}, "
                                  f"{full['bits_per_char']:.3f} bits/char)")
        result["plot"] = plot_loss_curve(self.run_dir / ckpt.LOG, self.run_dir / ckpt.PLOT,
                                         self.progress.message)
        if c.sample_tokens:
            result["sample"] = self.write_sample()
        return result

    def write_sample(self):
        prompt = default_prompt(self.tokenizer)
        out = generate(self.model, [prompt], self.config.sample_tokens, temperature=1.0,
                       seed=self.config.seed, eos_id=self.tokenizer.eos_id)[0]
        text = self.tokenizer.decode(prompt + out)
        with open(self.run_dir / ckpt.SAMPLES, "a", encoding="utf-8") as f:
            f.write(f"--- step {self.step}, temperature 1.0, seed {self.config.seed}\n{text}\n")
        return text

    def summary(self):
        return {"step": self.step, "best_val": self.best_val, "stopped": self._stop_reason,
                "tokens": self.tokens, "elapsed": self.elapsed,
                "seconds_per_step": self.progress.seconds_per_step(),
                "run_dir": str(self.run_dir)}


def train(config, run_dir, resume=False, stream=None):
    """Train `config` into `run_dir` (see Trainer); returns the summary dict."""
    return Trainer(config, run_dir, resume, stream).run()


# ---------------------------------------------------------------- helpers

class _StopOnInterrupt:
    """While active (in the main thread), the first Ctrl-C asks the trainer to stop after
    the current step; a second one raises KeyboardInterrupt as usual."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.trainer._stop_reason == "interrupted":
            raise KeyboardInterrupt
        self.trainer.request_stop("interrupted")
        self.trainer.progress.message("Ctrl-C: stopping after this step (again to quit now)")

    def __exit__(self, *exc):
        if self.active:
            signal.signal(signal.SIGINT, self.previous)


def _hidden_arrays(hidden):
    if hidden is None:
        return None
    return [h.numpy() for h in (hidden if isinstance(hidden, tuple) else (hidden,))]


def _hidden_tensors(arrays, device):
    if arrays is None:
        return None
    tensors = tuple(mg.tensor(a, device=device) for a in arrays)
    return tensors if len(tensors) > 1 else tensors[0]


def _append_jsonl(path, record):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_log(path):
    """The records of a log.jsonl, in order."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _truncate_log(path, step):
    """Drop log records after `step` (written after the checkpoint a run resumes from)."""
    records = [r for r in read_log(path) if r["step"] <= step and "full_val_loss" not in r]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
