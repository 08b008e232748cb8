"""The training loss of every step, kept in log.jsonl with the evaluations.

Each evaluation record carries the losses of the steps since the one before it:
    {"step": 250, "train_loss": ..., "val_loss": ..., "first_step": 1, "step_losses": [...]}
so `step_losses[i]` is the loss of step `first_step + i`, and the log keeps one record per
evaluation (its size grows by a few bytes a step). A run stopped between evaluations (Ctrl-C,
SIGTERM) writes the steps since the last one as a record of their own, without "val_loss";
resuming takes that record back into the buffer, so the next evaluation carries every step
once and a resumed log reads as an uninterrupted one.
"""
import json

from models.rundir import LOG, read_log


class StepLosses:
    def __init__(self):
        self.first_step, self.losses = None, []

    def add(self, step, loss):
        if not self.losses:
            self.first_step = step
        self.losses.append(round(float(loss), 6))

    def take(self):
        """The record fields of the steps so far ({} if none), and forget them."""
        if not self.losses:
            return {}
        fields = {"first_step": self.first_step, "step_losses": self.losses}
        self.first_step, self.losses = None, []
        return fields

    def write_partial(self, rundir, step):
        """A record of the steps since the last evaluation (a run stopped between them)."""
        fields = self.take()
        if fields:
            rundir.append_line(LOG, json.dumps({"step": step, **fields}))

    def resume(self, rundir, step, warn=None):
        """Take back the partial record that a run stopped at `step` wrote last."""
        records = read_log(rundir.path / LOG, warn)
        if records and records[-1]["step"] == step and "val_loss" not in records[-1] \
                and isinstance(records[-1].get("step_losses"), list):
            last = records.pop()
            self.first_step, self.losses = last.get("first_step", step), last["step_losses"]
            rundir.write_text(LOG, "".join(json.dumps(r) + "\n" for r in records))


def per_step(records):
    """(steps, losses) of every step in a log's records, in order."""
    steps, losses = [], []
    for r in records:
        values = r.get("step_losses")
        first = r.get("first_step")
        if isinstance(values, list) and isinstance(first, int):
            steps.extend(range(first, first + len(values)))
            losses.extend(values)
    return steps, losses
