"""The parent of the GPU check: runs each phase in a subprocess within its budget and keeps the
summary up to date as results come."""
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.gpu_check.common import (
    BUDGETS, DEFAULT_OUT, EXIT_FAILED, EXIT_NOT_RUN, EXIT_OK, MIN_PHASE_S, OUTPUT_FILES, PHASES,
    REHEARSAL, SETTINGS, SUMMARY_RESERVE_S, Log, cap_file, child_env, iso_time, now, read_jsonl,
    run_limited)
from benchmarks.gpu_check.report import (
    summarise_compare, summarise_tests, summarise_train, write_summary)

# ---------------------------------------------------------------------------------- the parent
class Check:
    def __init__(self, args):
        self.args = args
        self.size = "quick" if args.quick else "full"
        # a --budget below the shares' sum shrinks every share alike
        shares = BUDGETS[self.size]
        factor = min(1.0, (args.budget - SUMMARY_RESERVE_S) / sum(shares.values()))
        self.budgets = {name: share * factor for name, share in shares.items()}
        self.out = Path(args.out or os.environ.get("OUT") or DEFAULT_OUT)
        self.out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:  # a fresh set: never half of an older run's
            (self.out / name).unlink(missing_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        self.log = Log(self.out / "gpu_check.log")
        self.start = now()
        self.deadline = self.start + args.budget
        self.fallbacks = importlib.util.find_spec("regex") is None
        self.env = child_env(args.standin, self.fallbacks)
        self.summary = {
            "rehearsal": bool(args.standin),
            "note": REHEARSAL if args.standin else None,
            "status": "running",
            "started": iso_time(),
            "command": " ".join(["python3", "-m", "benchmarks.gpu_check"] + sys.argv[1:]),
            "size": self.size,
            "budget_s": args.budget,
            "machine": {},
            "phases": {},
            "tests": None,
            "train_step": [],
            "ops": [],
            "train": None,
            "compare": None,
            "fallbacks": (["regex: the package is missing; the standard library's re stands in "
                           "for it (the character tokenizer needs nothing more)"]
                          if self.fallbacks else []),
        }
        self.train_rows, self.compare_rows = [], []

    # ---- running phases
    def phase_budget(self, name, enabled):
        """This phase's nominal share plus what earlier phases left, never more than the
        total left minus the shares of the phases still to come."""
        later = enabled[enabled.index(name) + 1:]
        left = self.deadline - now() - SUMMARY_RESERVE_S
        done = self.summary["phases"]
        unused = max(sum(self.budgets[p] - done[p].get("seconds", 0) for p in done), 0)
        return min(self.budgets[name] + unused, left - sum(self.budgets[p] for p in later))

    def child(self, name, budget, extra=()):
        argv = [sys.executable, "-m", "benchmarks.gpu_check", "_phase", name, "--scratch",
                str(self.scratch), "--budget", f"{budget:.0f}", "--size", self.size]
        if self.args.standin:
            argv.append("--standin")
        argv += list(extra)
        out_path = self.scratch / f"{name}.jsonl"
        err_path = self.scratch / f"{name}.stderr"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            code, seconds = run_limited(argv, budget, self.env, out, err)
        self.log.block(f"{name} stderr", err_path.read_text(errors="replace"))
        return code, seconds, read_jsonl(out_path)

    def record(self, name, status, seconds, budget, note=None):
        entry = {"status": status, "seconds": round(seconds, 1), "budget_s": round(budget)}
        if note:
            entry["note"] = note
        self.summary["phases"][name] = entry
        self.log(f"{name}: {status} in {seconds:.0f} s (budget {budget:.0f} s)"
                 + (f": {note}" if note else ""))
        self.write_summary()

    def run(self):
        args = self.args
        if args.standin:
            self.log(REHEARSAL)
        self.log(f"writing to {self.out}; budget {args.budget:.0f} s; size {self.size}")
        if self.fallbacks:
            self.log("the regex package is missing: the standard library's re stands in for it")
        # ---- preflight: stop here, loudly, without CuPy or a GPU
        budget = max(self.budgets["preflight"], 30.0)
        code, seconds, rows = self.child("preflight", budget)
        info = rows[-1] if rows else {}
        self.summary["machine"] = info
        fatal = info.get("fatal")
        if not rows:
            fatal = ("the preflight check did not answer (" + (
                f"exit status {code}" if code is not None else f"over {budget} s: a GPU that "
                f"does not respond?") + "); see gpu_check.log")
        if fatal:
            self.summary.update(status="not run", reason=fatal)
            self.record("preflight", "failed", seconds, budget, fatal)
            self.finish()
            print(f"gpu-check: FAILED before starting: {fatal}", file=sys.stderr, flush=True)
            return EXIT_NOT_RUN
        if args.standin and not info.get("standin"):
            raise SystemExit("gpu-check: --standin, but the preflight found a real CuPy")
        if not args.standin and info.get("standin"):
            fatal = "the CuPy found is the NumPy stand-in (tests/cupy_standin_path on PYTHONPATH?)"
            self.summary.update(status="not run", reason=fatal)
            self.record("preflight", "failed", seconds, budget, fatal)
            self.finish()
            print(f"gpu-check: FAILED before starting: {fatal}", file=sys.stderr, flush=True)
            return EXIT_NOT_RUN
        note = None if info.get("first_kernels_ok") else (
            "the first kernels failed: " + str(info.get("errors", {}).get("first_kernels")
                                               or info.get("first_kernels_detail")))
        self.record("preflight", "ok" if note is None else "failed", seconds, budget, note)
        self.log(f"GPU {info.get('gpu')}, driver {info.get('driver_version')}, CUDA "
                 f"{info.get('cuda_driver_version')}, CuPy {info.get('cupy')}, torch "
                 f"{info.get('torch')} (cuda: {info.get('torch_cuda')})")

        enabled = [p for p in PHASES[1:] if not args.only or p in args.only]
        for name in enabled:
            budget = self.phase_budget(name, enabled)
            if budget < MIN_PHASE_S:
                self.record(name, "skipped", 0, max(budget, 0),
                            "the total budget is spent")
                continue
            self.log(f"{name}: starting, {budget:.0f} s")
            if name == "tests":
                self.run_tests(budget)
            else:
                self.run_child_phase(name, budget, info)
        return self.finish()

    def run_child_phase(self, name, budget, info):
        extra = ["--bfloat16"] if name == "train-step" and info.get("bfloat16") else []
        code, seconds, rows = self.child(name, budget, extra)
        status = "ok" if code == 0 else ("timed out" if code is None else "failed")
        note = None
        if code is None:
            note = f"killed at its budget; {len(rows)} result lines kept"
        elif code != 0:
            err = (self.scratch / f"{name}.stderr").read_text(errors="replace").strip()
            note = f"exit status {code}: " + (err.splitlines()[-1][:300] if err else "no stderr")
        if name == "train-step":
            self.summary["train_step"] = rows
            failures = [f"{r['config']} {r.get('amp')}: {side} {err}"
                        for r in rows for side, err in (r.get("errors") or {}).items()]
            if failures and status == "ok":
                status, note = "failed", "; ".join(failures)[:500]
        elif name == "ops":
            self.summary["ops"] = rows
        elif name == "train":
            self.train_rows = rows
            self.summary["train"] = summarise_train(rows)
        elif name == "compare":
            self.compare_rows = rows
            self.summary["compare"] = summarise_compare(rows)
        self.record(name, status, seconds, budget, note)

    def run_tests(self, budget):
        """pytest -m cuda with a per-test limit; after a hard stop (a hung kernel), again
        without the tests already run and the one that hung, while time is left."""
        s = SETTINGS[self.size]
        progress = self.scratch / "progress.jsonl"
        log_path = self.out / "pytest.log"
        start = now()
        hung, attempts, code = [], 0, None
        while True:
            attempts += 1
            done = {r["nodeid"] for r in read_jsonl(progress) if r.get("event") == "end"}
            argv = [sys.executable, "-m", "pytest", "-m", s["test_marker"], "-q", "-rfEs",
                    "-p", "no:cacheprovider", "--per-test-timeout", str(s["test_timeout"]),
                    "--progress-file", str(progress), "--durations=15"]
            for nodeid in sorted(done | set(hung)):
                argv += ["--deselect", nodeid]
            left = budget - (now() - start)
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"===== attempt {attempts}: {' '.join(argv[1:6])} ... "
                          f"({len(done | set(hung))} deselected), {left:.0f} s left\n")
                log.flush()
                code, _ = run_limited(argv, left, self.env, log)
            if code is None:
                break  # out of time
            # a test started and never ended: the process was stopped in it (faulthandler's
            # hard timeout exits with status 1, like failed tests, so look, not guess)
            events = read_jsonl(progress)
            ended = {r["nodeid"] for r in events if r.get("event") == "end"}
            open_tests = [r["nodeid"] for r in events
                          if r.get("event") == "start" and r["nodeid"] not in ended
                          and r["nodeid"] not in hung]
            if not open_tests:
                break  # the run finished (status 0, 1 or 5) or could not start (2-4)
            hung.append(open_tests[-1])
            self.log(f"tests: the run stopped (exit status {code}) in {open_tests[-1]}")
            if budget - (now() - start) < 20 or attempts >= 4:
                break
            self.log("tests: restarting after it")
        cap_file(log_path)
        tests = summarise_tests(read_jsonl(progress), hung, log_path)
        tests["attempts"] = attempts
        self.summary["tests"] = tests
        seconds = now() - start
        if code is None:
            events = read_jsonl(progress)
            ended = {r["nodeid"] for r in events if r.get("event") == "end"}
            running = [r["nodeid"] for r in events
                       if r.get("event") == "start" and r["nodeid"] not in ended]
            tests["killed_in"] = running[-1] if running else None
            where = f" in {running[-1]}" if running else ""
            status, note = "timed out", (f"killed at its budget{where}; {tests['ran']} tests "
                                         f"had run")
        elif tests["failed"] or tests["error"] or hung:
            status, note = "failed", (f"{tests['failed']} failed, {tests['error']} errors"
                                      + (f", hung: {', '.join(hung)}" if hung else ""))
        elif code not in (0, 5):
            status, note = "failed", f"pytest exit status {code}"
        else:
            status, note = "ok", None
        self.record("tests", status, seconds, budget, note)

    # ---- the summary
    def write_summary(self):
        self.summary["elapsed_s"] = round(now() - self.start, 1)
        peaks = [self.summary["machine"].get("first_kernels_peak_mb")]
        for row in self.summary["train_step"]:
            peaks += [row.get("minigrad_peak_gpu_mem_mb"), row.get("torch_peak_gpu_mem_mb"),
                      row.get("torch_sdpa_peak_gpu_mem_mb")]
        if self.summary["train"]:
            peaks.append(self.summary["train"].get("peak_gpu_mem_mb"))
        peaks = [p for p in peaks if isinstance(p, (int, float))]
        self.summary["peak_gpu_mem_mb"] = max(peaks) if peaks else None
        write_summary(self.out, self.summary, self.train_rows, self.compare_rows)

    def finish(self):
        phases = self.summary["phases"]
        if self.summary["status"] == "running":
            bad = [p for p, v in phases.items() if v["status"] != "ok"]
            self.summary["status"] = "complete" if not bad else "complete with problems: " + \
                ", ".join(f"{p} {phases[p]['status']}" for p in bad)
        self.summary["finished"] = iso_time()
        self.write_summary()
        self.log(f"done in {now() - self.start:.0f} s: {self.summary['status']}; "
                 f"results in {self.out}")
        # the headline on stdout too, for a caller that sees only the output
        head = (self.out / "summary.md").read_text(encoding="utf-8").split("\n## Failing")[0]
        print(head, flush=True)
        self.log.file.close()
        cap_file(self.out / "gpu_check.log")
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.summary["status"] == "not run":
            return EXIT_NOT_RUN
        return EXIT_OK if self.summary["status"] == "complete" else EXIT_FAILED

