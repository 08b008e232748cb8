"""Training a language model on a corpus, with checkpoints that resume exactly.

    trainer = Trainer(config, "runs/tiny")           # config: models.config.Config
    summary = trainer.run()                          # or: train(config, "runs/tiny")
    Trainer(config, "runs/tiny", resume=True).run()  # go on from runs/tiny/last.npz

One optimiser step: `grad_accum` micro-batches of `batch_size` sequences, each one's loss
divided by `grad_accum` and backpropagated (so the gradients add up to the gradient of the
mean); the global gradient norm clipped to `grad_clip`; AdamW (or Adam) with weight decay
as `decay_all` says, or SGD or RMSprop (models/optim_config.py); the learning rate of the
schedule (linear warmup, then cosine decay to `min_lr` at the last step, or constant).
Transformers and the other window models learn from random windows of the train split
(HW4's get_batch); RNNs and LSTMs from contiguous chunks, their hidden state carried from
chunk to chunk and detached (truncated BPTT). With `objective` "last" every model learns
the Cervantes notebook's way instead: the last position of shuffled stride-1 windows, epoch
after epoch (models/windows.py), with the mean training loss of each epoch in the log.
With `amp` float16 or bfloat16 the forward runs under `minigrad.amp.autocast` (matrix
products in the low precision, float32 weights); float16 also scales the loss
(`minigrad.amp.GradScaler`), and a step whose gradients overflow is skipped.

Evaluation at step 0, every `eval_every` steps and at the last step: the mean loss and
next-token accuracy of `eval_batches` random batches of train and val (the same batches
every time, drawn from a generator of their own, so evaluating never changes what training
sees), a line in log.jsonl (with perplexity, bits per character and the training loss of
every step since the last evaluation: models/step_losses.py), and checkpoints: best.npz when val improves, last.npz always. With `patience`,
training stops after that many evaluations without a better val loss. At the end: the loss
over the whole val split, loss.png and samples.txt (the run directory layout is in
models/checkpoint.py).

Exact resume: a checkpoint holds the weights, the optimiser's moments, the schedule, the
loss scale, both random generators (weights and dropout; batches), the step, the data
position and the recurrent state, so a run stopped at step k and resumed ends with the
same weights, bit for bit, as the same run never stopped. Ctrl-C or SIGTERM finishes the
current step, saves last.npz and returns; a second one interrupts at once.

No lost runs (models/rundir.py, models/stopping.py): the run directory is locked for the
whole run, every file is written atomically and never through a symbolic link, a NaN or
infinite loss or gradient norm stops the run before the update (or, with nan_policy
"skip", skips that update) and no checkpoint is written with non-finite weights; the memory
the config needs is estimated before anything is built (models/resources.py).
"""
import contextlib
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import amp
from minigrad import functional as F
from minigrad.nn.utils import clip_grad_norm_
from minigrad.parallel import split_backward

from models import checkpoint as ckpt
from models.base import detach_state
from models.config import build_model
from models.corpus import default_corpus_path, training_text
from models.data import SequentialBatcher, build_tokenizer, get_batch, prepare, to_ids
from models.evaluate import chars_per_token, estimate, evaluate_split, record_fields
from models.generate import default_prompt, generate
from models.optim_config import build_optimizer, build_scheduler
from models.plot import plot_loss_curve
from models.progress import Progress
from models.resources import check_training_memory
from models.rundir import RunDir, read_log, truncate_log  # noqa: F401 (read_log: for callers)
from models.step_losses import StepLosses
from models.stopping import StopOnSignal, all_finite, diverged, is_finite
from models.validation import InputError
from models.windows import LastTokenWindows, objective_loss

# Fields that may change when a run is resumed; any other difference is an error, since
# the checkpoint could not continue the same run.
RESUMABLE = {"steps", "epochs", "eval_every", "eval_batches", "patience", "final_eval",
             "sample_tokens", "device", "description", "nan_policy", "detect_anomaly"}
MAX_SKIPS = 10  # nan_policy "skip": updates skipped in a row before the run stops anyway


class Trainer:
    def __init__(self, config, run_dir, resume=False, stream=None, live_plot=False):
        # A training step frees and reallocates the same large arrays every step: keep the
        # freed memory in malloc instead of faulting in fresh pages (tiny: 150 -> 108 ms).
        mg.backend.keep_freed_memory()
        self.config = config.validate()
        self.run_dir = Path(run_dir)
        self.rundir = RunDir(run_dir)
        self.resume = resume
        # live_plot: the loss curve redrawn in a notebook as training runs (models/live_plot.py)
        self.progress = Progress(stream if stream is not None else sys.stderr, live_plot)
        self.on_step = None  # callback(step) after every step (tests stop runs with it)
        self._stop_reason = None
        self.stop_signal = None  # the signal that stopped the run, if one did
        self.saved_step = None  # the step last.npz holds
        self.skipped = 0  # updates skipped in a row (nan_policy "skip")
        self.step_losses = StepLosses()  # every step's loss, logged with the evaluations
        self.chars_per_token = None  # of the train and val splits, for bits per character

    # ------------------------------------------------------------ set-up

    def setup(self):
        """Tokenizer, data, model, optimiser and schedule; restored from last.npz on resume."""
        c = self.config
        mg.backend.xp_for_device(c.device)  # a clear error now if the device is missing
        check_training_memory(c, 1)  # before any work; the vocabulary's share comes below
        self.rundir.open()
        for path in self.rundir.removed:
            self.progress.message(f"removed {path}, left by a save that was interrupted")
        info = self._check_run_dir()
        corpus = c.corpus or default_corpus_path()
        if info is None:  # a new run learns its tokenizer; a resumed one keeps its own
            self.tokenizer, self.tokenizer_digest = self.learn_tokenizer(corpus)
        else:
            self.tokenizer, self.tokenizer_digest = ckpt.read_tokenizer(
                self.run_dir / ckpt.TOKENIZER, info, self.run_dir / ckpt.LAST)
        check_training_memory(c, self.tokenizer.vocab_size)
        self.splits = prepare(corpus, self.tokenizer, self.run_dir / ckpt.CACHE, c.val_fraction,
                              self.tokenizer_digest, c.test_fraction)
        self.windows = (LastTokenWindows(self.splits["train"], c.batch_size, c.context, c.seed)
                        if c.objective == "last" else None)
        if c.epochs:  # objective "last": the steps of that many epochs
            self.config = c = c.replace(steps=c.epochs * len(self.windows))
        self.rundir.write_text(ckpt.CONFIG, c.to_json())

        mg.manual_seed(c.seed)
        self.model = build_model(c, self.tokenizer.vocab_size).to(c.device)
        self._check_split_sizes()
        self.optimizer = build_optimizer(c, self.model)
        # float16 needs loss scaling; bfloat16 has float32's range and does not.
        self.scaler = amp.GradScaler(enabled=c.amp == "float16")
        self.scheduler = build_scheduler(c, self.optimizer)
        self.batch_rng = np.random.default_rng(c.seed)
        self.batcher = (SequentialBatcher(self.splits["train"], c.batch_size, c.context)
                        if self.model.recurrent and self.windows is None else None)
        self.hidden = None
        self.epoch_losses = []  # objective "last": the losses of the epoch so far
        self.step, self.best_val, self.evals_since_best = 0, math.inf, 0
        self.tokens, self.elapsed = 0, 0.0
        if info is not None:
            self._restore(info)

    def learn_tokenizer(self, corpus):
        """(tokenizer, sha256 of its file) of a new run, learnt from `corpus` and saved."""
        c = self.config
        tokenizer = build_tokenizer(c.tokenizer, training_text(corpus), **c.tokenizer_options())
        data = tokenizer.to_json().encode("utf-8")
        self.rundir.write_bytes(ckpt.TOKENIZER, data)
        return tokenizer, hashlib.sha256(data).hexdigest()

    def _check_run_dir(self):
        """The checked header of the checkpoint to resume from (or None); never starts
        afresh over an existing run."""
        last = self.run_dir / ckpt.LAST
        if not self.resume:
            if last.exists():
                raise InputError(f"{self.run_dir} already holds a run ({ckpt.LAST}); pass "
                                 f"--resume to continue it, or choose another --out")
            return None
        if not last.is_file():
            raise FileNotFoundError(f"{self.run_dir}: nothing to resume (no {ckpt.LAST})")
        info, saved = ckpt.read_info(last)
        differ = [f"{f} ({getattr(saved, f)!r} -> {getattr(self.config, f)!r})"
                  for f in saved.to_dict()
                  if f not in RESUMABLE and getattr(saved, f) != getattr(self.config, f)]
        if differ:
            raise InputError(f"cannot resume {self.run_dir} with other settings: "
                             f"{', '.join(differ)}")
        self.saved_step = info["step"]
        return info

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
        """Everything an exact resume needs (models/checkpoint.py lists it)."""
        return ckpt.training_state(self)

    def _restore(self, info):
        """Check the checkpoint's structures against this trainer's own, then load it."""
        path = self.run_dir / ckpt.LAST
        ckpt.check_training_state(self, info, path)
        ckpt.restore_training_state(self, ckpt.load_checkpoint(path), path)
        truncate_log(self.rundir, self.step, self.progress.message)
        self.step_losses.resume(self.rundir, self.step, self.progress.message)

    def save(self, *names):
        """Write checkpoints, never with weights that are not all finite."""
        if not all_finite(self.model.parameters()):
            raise diverged(self.step, "the weights hold NaN or infinite values", self.run_dir,
                           self.saved_step, self.config)
        state = self.state()
        for name in names:
            ckpt.save_checkpoint(self.rundir.check(name), state)
        if ckpt.LAST in names:
            self.saved_step = self.step

    # ------------------------------------------------------------ the loop

    def run(self):
        """Train to `steps` (or an early stop, a signal, a divergence); returns a summary."""
        try:
            self.setup()
            with mg.detect_anomaly() if self.config.detect_anomaly else contextlib.nullcontext():
                return self._loop()
        finally:
            self.progress.close()
            self.rundir.close()

    def _loop(self):
        c = self.config
        self.progress.start(self.step, c.steps, self.model.num_parameters(), self.run_dir)
        # Non-finite values are checked and reported (models/stopping.py), not warned about.
        with StopOnSignal(self), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if self.step == 0 and not self.resume:
                self.evaluate()
            start = time.perf_counter() - self.elapsed
            while self.step < c.steps and self._stop_reason is None:
                lr, tokens = self.scheduler.get_last_lr()[0], self.tokens
                began = time.perf_counter()
                loss = self.train_step()
                self.step += 1
                self.step_losses.add(self.step, loss)
                self.elapsed = time.perf_counter() - start
                self.progress.update(self.step, loss, lr, self.tokens - tokens,
                                     time.perf_counter() - began)
                if self.windows is not None:
                    self._epoch_record(loss)
                if self.on_step is not None:
                    self.on_step(self.step)
                if self.step % c.eval_every == 0 or self.step == c.steps:
                    self.evaluate()
        if self._stop_reason == "interrupted":
            self.step_losses.write_partial(self.rundir, self.step)
            self.save(ckpt.LAST)
            self.progress.message(f"interrupted at step {self.step}: saved "
                                  f"{self.run_dir / ckpt.LAST}; continue with --resume")
            return self.summary()
        return self.finish()

    def _epoch_record(self, loss):
        """Objective "last": log the mean training loss of each epoch (the seed's number)
        at its end, and of the epoch so far at the last step."""
        self.epoch_losses.append(loss)
        per_epoch = len(self.windows)
        if self.step % per_epoch == 0 or self.step == self.config.steps:
            record = {"step": self.step, "epoch": round(self.step / per_epoch, 4),
                      "steps_per_epoch": per_epoch,
                      "epoch_train_loss": float(np.mean(self.epoch_losses))}
            self.rundir.append_line(ckpt.LOG, json.dumps(record))
            self.epoch_losses = []

    def request_stop(self, reason="interrupted"):
        """Stop after the current step (and save last.npz)."""
        self._stop_reason = reason

    def train_step(self):
        """One optimiser step; returns the mean training loss of its micro-batches."""
        c = self.config
        self.model.train()
        self.optimizer.zero_grad()
        total = 0.0
        for micro in range(c.grad_accum):
            x, y = self.next_batch(self.step * c.grad_accum + micro)
            if self._split_batches(x):
                total += split_backward(self._scaled_loss, list(self.model.parameters()), (x, y),
                                        c.threads) * c.grad_accum / self.scaler.get_scale()
            else:
                with self._autocast():
                    if self.batcher is not None:  # truncated BPTT: the state goes on
                        logits, hidden = self.model(x, self.hidden)
                        self.hidden = detach_state(hidden)
                        loss = F.cross_entropy(logits, y)
                    else:
                        loss = objective_loss(self.model, x, y, c.objective)
                self.scaler.scale(loss * (1.0 / c.grad_accum)).backward()
                total += loss.item()
            self.tokens += y.numel()
        total = self.after_backward(total)
        # Without --amp float16 the scaler passes everything through unchanged.
        self.scaler.unscale_(self.optimizer)
        norm = clip_grad_norm_(self.model.parameters(), c.grad_clip or math.inf)
        loss = total / c.grad_accum
        if not self.scaler.is_enabled() and not is_finite(loss, norm):
            # (the loss scaler skips such steps itself: overflow is its business)
            return self._non_finite_step(loss, norm)
        self.skipped = 0
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss

    def after_backward(self, loss_sum):
        """Between backward and the update; returns the loss sum to report. Data-parallel
        training (models/distributed_train.py) averages gradients and loss over ranks here."""
        return loss_sum

    def _non_finite_step(self, loss, norm):
        """Stop before a NaN reaches the weights, or skip the update (nan_policy "skip")."""
        what = f"the loss is {loss} and the gradient norm {norm}"
        self.skipped += 1
        if self.config.nan_policy == "stop" or self.skipped > MAX_SKIPS:
            if self.skipped > 1:
                what += f" ({self.skipped} steps in a row)"
            raise diverged(self.step + 1, what, self.run_dir, self.saved_step, self.config)
        self.progress.message(f"step {self.step + 1}: {what}: update skipped (--nan-policy "
                              f"skip)")
        self.optimizer.zero_grad()
        self.scheduler.step()
        return loss

    def _split_batches(self, x):
        c = self.config
        return (c.threads > 1 and c.device == "cpu" and self.batcher is None
                and x.shape[0] % c.threads == 0)

    def _scaled_loss(self, x, y):
        """The loss of a shard, scaled for gradient accumulation and by the loss scaler
        (split_backward reports the mean of these; the caller unscales it again)."""
        with self._autocast():  # in the shard's own thread: autocast is per thread
            loss = objective_loss(self.model, x, y, self.config.objective)
        return self.scaler.scale(loss * (1.0 / self.config.grad_accum))

    def _autocast(self):
        """The precision of a forward pass: autocast under --amp, else unchanged."""
        amp_mode = self.config.amp
        return amp.autocast(amp_mode) if amp_mode != "off" else contextlib.nullcontext()

    def next_batch(self, index):
        """(x, y) id tensors: batch `index` of the shuffled windows (objective "last"), the
        next chunk (recurrent models) or random windows."""
        c = self.config
        if self.windows is not None:
            x, y = self.windows.batch(index)
        elif self.batcher is None:
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
        estimates = estimate(self.model, splits, c.context, c.batch_size, c.eval_batches,
                             np.random.default_rng(c.seed + 1))
        losses = {name: e["loss"] for name, e in estimates.items()}
        if not is_finite(losses["train"], losses["val"]):
            raise diverged(self.step, f"the estimated train loss is {losses['train']} and val "
                           f"loss {losses['val']}", self.run_dir, self.saved_step, c)
        improved = losses["val"] < self.best_val
        if improved:
            self.best_val, self.evals_since_best = losses["val"], 0
        else:
            self.evals_since_best += 1
        if self.chars_per_token is None:
            self.chars_per_token = {name: chars_per_token(ids, self.tokenizer)
                                    for name, ids in splits.items()}
        record = {"step": self.step, **record_fields(estimates, self.chars_per_token),
                  "lr": self.scheduler.get_last_lr()[0], "tokens": self.tokens,
                  "time": round(self.elapsed, 3), **self.step_losses.take()}
        self.rundir.append_line(ckpt.LOG, json.dumps(record))
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
            self.rundir.append_line(ckpt.LOG, json.dumps({
                "step": self.step, "full_val_loss": full["loss"],
                "perplexity": full["perplexity"], "bits_per_char": full["bits_per_char"],
                "accuracy": full["accuracy"]}))
            self.progress.message(f"val loss over the whole split (last weights): "
                                  f"{full['loss']:.4f} (perplexity {full['perplexity']:.2f}, "
                                  f"{full['bits_per_char']:.3f} bits/char)")
        result["plot"] = plot_loss_curve(self.run_dir / ckpt.LOG, self.rundir.check(ckpt.PLOT),
                                         self.progress.message)
        if c.sample_tokens:
            result["sample"] = self.write_sample()
        return result

    def write_sample(self):
        prompt = default_prompt(self.tokenizer)
        out = generate(self.model, [prompt], self.config.sample_tokens, temperature=1.0,
                       seed=self.config.seed, eos_id=self.tokenizer.eos_id)[0]
        text = self.tokenizer.decode(prompt + out)
        self.rundir.append_line(ckpt.SAMPLES, f"--- step {self.step}, temperature 1.0, seed "
                                              f"{self.config.seed}\n{text}")
        return text

    def summary(self):
        return {"step": self.step, "best_val": self.best_val, "stopped": self._stop_reason,
                "signal": self.stop_signal, "tokens": self.tokens, "elapsed": self.elapsed,
                "seconds_per_step": self.progress.seconds_per_step(),
                "run_dir": str(self.run_dir)}


def train(config, run_dir, resume=False, stream=None, live_plot=False):
    """Train `config` into `run_dir` (see Trainer); returns the summary dict."""
    return Trainer(config, run_dir, resume, stream, live_plot).run()
