"""What the GPU check writes: the summary (Markdown and JSON), the benchmark tables and the loss
plot as SVG."""
import json
import math
import os
import statistics
from pathlib import Path

from benchmarks.gpu_check.common import REHEARSAL


def summarise_tests(events, hung, log_path):
    outcomes = {}
    durations = {}
    for r in events:
        if r.get("event") == "end":
            outcomes[r["nodeid"]] = r.get("outcome")
            durations[r["nodeid"]] = r.get("duration")
    counts = {k: sum(1 for v in outcomes.values() if v == k)
              for k in ("passed", "failed", "error", "skipped")}
    slowest = sorted(((d or 0, n) for n, d in durations.items()), reverse=True)[:5]
    last_line = ""
    try:
        for line in Path(log_path).read_text(errors="replace").splitlines():
            if (" passed" in line or " failed" in line or " error" in line) and " in " in line:
                last_line = line.strip("= ").strip()
    except FileNotFoundError:
        pass
    return {**counts, "hung": list(hung), "ran": len(outcomes),
            "failed_ids": sorted(n for n, v in outcomes.items() if v in ("failed", "error")),
            "slowest": [{"nodeid": n, "s": d} for d, n in slowest],
            "pytest_last_line": last_line}


def summarise_train(rows):
    steps = [r for r in rows if r.get("event") == "step"]
    evals = [r for r in rows if r.get("event") == "eval"]
    end = next((r for r in rows if r.get("event") == "end"), {})
    begin = next((r for r in rows if r.get("event") == "start"), {})
    times = [r["s"] for r in steps[5:]] or [r["s"] for r in steps]
    return {
        "steps": len(steps),
        "planned_steps": begin.get("config", {}).get("steps"),
        "params": begin.get("params"),
        "config": begin.get("config"),
        "ms_per_step": statistics.median(times) * 1e3 if times else None,
        "loss_first": steps[0]["loss"] if steps else None,
        "loss_last_10": statistics.fmean(r["loss"] for r in steps[-10:]) if steps else None,
        "val_before": evals[0].get("val") if evals else None,
        "val_after": evals[-1].get("val") if len(evals) > 1 else None,
        "train_after": evals[-1].get("train") if len(evals) > 1 else None,
        "stopped": end.get("stopped"),
        "seconds": end.get("seconds"),
        "peak_gpu_mem_mb": end.get("peak_gpu_mem_mb"),
        "finished": bool(end),
    }


def summarise_compare(rows):
    by_device = {r["device"]: r for r in rows if "device" in r}
    gpu, cpu = by_device.get("cuda"), by_device.get("cpu")
    out = {"cuda_losses": gpu and gpu["losses"], "cpu_losses": cpu and cpu["losses"],
           "seconds": {d: r.get("seconds") for d, r in by_device.items()}}
    if gpu and cpu:
        diffs = [abs(a - b) for a, b in zip(gpu["losses"], cpu["losses"])]
        out["abs_diff"] = diffs
        out["first_abs_diff"] = diffs[0] if diffs else None
        # float32 on both, other summation orders: the first loss to ~1e-5, later ones drift
        out["agree"] = bool(diffs) and diffs[0] < 1e-3 and max(diffs) < 2e-2
    return out


# ---------------------------------------------------------------------------------- files
def write_summary(out, s, train_rows=(), compare_rows=()):
    """summary.json, summary.md, bench.md, bench.jsonl, train.jsonl and loss.svg from the
    results dict ``s`` (see Check.summary); each file written whole, so that a reader never
    sees half of one."""
    out = Path(out)
    _write(out / "summary.json", json.dumps(s, indent=2, default=str) + "\n")
    _write(out / "summary.md", summary_markdown(s))
    if s["status"] == "not run":
        return  # nothing ran: no empty result files
    bench_rows = [dict(r, rehearsal=s["rehearsal"]) for r in s["train_step"] + s["ops"]]
    _write(out / "bench.jsonl", "".join(json.dumps(r, default=str) + "\n" for r in bench_rows))
    _write(out / "bench.md", bench_markdown(s))
    lines = [json.dumps({"run": "train", "rehearsal": s["rehearsal"], **r}) for r in train_rows]
    lines += [json.dumps({"run": "compare", "rehearsal": s["rehearsal"], **r})
              for r in compare_rows]
    _write(out / "train.jsonl", "".join(line + "\n" for line in lines))
    steps = [r for r in train_rows if r.get("event") == "step"]
    _write(out / "loss.svg", loss_svg(steps, s))


def _write(path, text):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def summary_markdown(s):
    m = s.get("machine") or {}
    t = s.get("tests") or {}
    lines = []
    if s.get("rehearsal"):
        lines += [f"> **{REHEARSAL}.** Times and memory below are the CPU's; nothing here was "
                  "measured on a GPU.", ""]
    lines += [f"# GPU check: {s['status']}", "",
              f"- started {s['started']}, {s.get('elapsed_s', 0):.0f} s in all "
              f"(budget {s['budget_s']:.0f} s, size {s['size']}): `{s['command']}`"]
    if s.get("reason"):
        lines.append(f"- **not run: {s['reason']}**")
    if m.get("gpu") or m.get("cupy"):
        lines.append(f"- GPU: {m.get('gpu', '–')} ({m.get('gpu_memory_mb', '–')} MiB, compute "
                     f"capability {m.get('compute_capability', '–')}); driver "
                     f"{m.get('driver_version', '–')} (nvidia-smi: "
                     f"{m.get('nvidia_smi', '–')}); CUDA driver "
                     f"{m.get('cuda_driver_version', '–')}, runtime "
                     f"{m.get('cuda_runtime_version', '–')}")
        lines.append(f"- CuPy {m.get('cupy', '–')}, NumPy {m.get('numpy', '–')}, Python "
                     f"{m.get('python', '–')}, PyTorch {m.get('torch', '–')} (CUDA "
                     f"{m.get('torch_cuda_version', '–')}, GPU: {m.get('torch_cuda', '–')}); "
                     f"bfloat16 in minigrad: {m.get('bfloat16', '–')}")
        lines.append(f"- first kernels: {'ok' if m.get('first_kernels_ok') else 'FAILED'} "
                     f"({m.get('first_kernels_detail') or m.get('errors', {}).get('first_kernels')}"
                     f"; {m.get('first_kernels_s', '–')} s with compilation)")
    for note in s.get("fallbacks") or []:
        lines.append(f"- fallback: {note}")
    if t:
        lines.append(f"- **cuda tests: {t.get('passed', 0)} passed, {t.get('failed', 0)} "
                     f"failed, {t.get('error', 0)} errors, {t.get('skipped', 0)} skipped** "
                     f"({t.get('ran', 0)} ran; pytest: {t.get('pytest_last_line') or '–'})"
                     + (f"; hung: {', '.join(t['hung'])}" if t.get("hung") else ""))
    for row in s.get("train_step") or []:
        if "config" not in row:
            continue
        lines.append(f"- train step {row['config']} ({_amp(row)}): minigrad "
                     f"{_num(row.get('minigrad_ms'))} ms, torch eager "
                     f"{_num(row.get('torch_ms'))} ms (ratio {_num(row.get('ratio'))}), torch "
                     f"sdpa {_num(row.get('torch_sdpa_ms'))} ms (ratio "
                     f"{_num(row.get('ratio_sdpa'))}); peak GPU MB minigrad "
                     f"{_num(row.get('minigrad_peak_gpu_mem_mb'))} / torch "
                     f"{_num(row.get('torch_peak_gpu_mem_mb'))}"
                     + (f" ({row['torch_note']})" if row.get("torch_note") else "")
                     + (f"; errors: {row['errors']}" if row.get("errors") else ""))
    tr = s.get("train")
    if tr:
        lines.append(f"- training nanogpt-char on the GPU: {tr['steps']} of "
                     f"{tr.get('planned_steps')} steps in {_num(tr.get('seconds'))} s "
                     f"({_num(tr.get('ms_per_step'))} ms/step), loss "
                     f"{_num(tr.get('loss_first'), 4)} -> {_num(tr.get('loss_last_10'), 4)} "
                     f"(mean of the last 10), val "
                     f"{_num(tr.get('val_before'), 4)} -> {_num(tr.get('val_after'), 4)}; peak "
                     f"GPU pool {_num(tr.get('peak_gpu_mem_mb'))} MB"
                     + (f"; stopped: {tr['stopped']}" if tr.get("stopped") else ""))
    cmp_ = s.get("compare")
    if cmp_:
        lines.append(f"- GPU vs CPU, first losses (dropout off): cuda "
                     f"{_list(cmp_.get('cuda_losses'))}, cpu {_list(cmp_.get('cpu_losses'))}; "
                     f"|diff| {_list(cmp_.get('abs_diff'), 2)}: "
                     + ("agree" if cmp_.get("agree") else "DO NOT AGREE"
                        if cmp_.get("abs_diff") else "incomplete"))
    if s.get("peak_gpu_mem_mb") is not None:
        lines.append(f"- peak GPU memory seen: {_num(s['peak_gpu_mem_mb'])} MB")
    lines += ["", "## Phases", "", "| phase | status | seconds | budget | note |",
              "|---|---|---|---|---|"]
    for name, p in s.get("phases", {}).items():
        note = str(p.get("note") or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {name} | {p['status']} | {p['seconds']} | {p['budget_s']} | {note} |")
    if t.get("failed_ids") or t.get("hung"):
        lines += ["", "## Failing tests (details in pytest.log)", ""]
        failed = t.get("failed_ids", [])
        lines += [f"- `{n}`" for n in failed[:60]]
        if len(failed) > 60:
            lines.append(f"- ... and {len(failed) - 60} more (all in summary.json)")
        lines += [f"- `{n}` (hung: the run was stopped in it)" for n in t.get("hung", [])]
    if t.get("slowest"):
        lines += ["", "Slowest tests: " + ", ".join(f"`{r['nodeid'].split('::')[-1]}` "
                                                     f"{_num(r['s'])} s" for r in t["slowest"])]
    lines += ["", "Files: summary.md, summary.json, pytest.log, bench.md, bench.jsonl, "
              "train.jsonl, loss.svg, gpu_check.log.", ""]
    return "\n".join(lines)


def _amp(row):
    return {"off": "float32", None: "float32"}.get(row.get("amp"), f"autocast {row.get('amp')}")


def _list(values, digits=5):
    if not values:
        return "–"
    return "[" + ", ".join(f"{v:.{digits}g}" if isinstance(v, float) else str(v)
                           for v in values) + "]"


def bench_markdown(s):
    from benchmarks.harness import markdown_table
    lines = []
    if s.get("rehearsal"):
        lines += [f"> **{REHEARSAL}.** PyTorch ran on the CPU; no figure here is a GPU's.", ""]
    rows = [r for r in s.get("train_step") or [] if "config" in r]
    lines += ["# Training step on the GPU: minigrad (CuPy) vs PyTorch eager", ""]
    if rows:
        lines.append(rows[0].get("machine", ""))
        lines += ["", markdown_table(rows, [
            ("config", "config"), ("precision", _amp), ("minigrad ms", "minigrad_ms"),
            ("torch ms", "torch_ms"), ("ratio", "ratio"), ("torch sdpa ms", "torch_sdpa_ms"),
            ("ratio vs sdpa", "ratio_sdpa"), ("minigrad GPU MB", "minigrad_peak_gpu_mem_mb"),
            ("torch GPU MB", "torch_peak_gpu_mem_mb"), ("minigrad GFLOP/s", "gflops"),
            ("matmul peak GFLOP/s", "peak_gflops"), ("minigrad loss", "minigrad_loss_first"),
            ("torch loss", "torch_loss_first")])]
        errors = [f"- {r['config']} {_amp(r)}: {side}: {err}" for r in rows
                  for side, err in (r.get("errors") or {}).items()]
        lines += [""] + errors
    else:
        lines.append("(no rows)")
    notes = [r for r in s.get("train_step") or [] if "config" not in r]
    lines += [f"- {next(iter(r.values()))}" for r in notes]
    ops = [r for r in s.get("ops") or [] if "op" in r]
    lines += ["", "# Ops on the GPU", ""]
    if ops:
        lines.append(markdown_table(ops, [
            ("op", "op"), ("size", lambda r: "x".join(map(str, r["size"]))), ("mode", "mode"),
            ("minigrad µs", "minigrad_us"), ("torch µs", "torch_us"), ("ratio", "ratio"),
            ("minigrad GFLOP/s", "minigrad_gflops"), ("torch GFLOP/s", "torch_gflops")]))
    else:
        lines.append("(no rows)")
    return "\n".join(lines) + "\n"


def loss_svg(steps, s, width=720, height=400):
    """The training loss against step as a small SVG (no matplotlib on the GPU machine):
    each step's loss, and its running mean over 20 steps."""
    title = "nanogpt-char on the GPU: training loss"
    if s.get("rehearsal"):
        title = "REHEARSAL (CuPy stand-in on the CPU): " + title
    pad_l, pad_r, pad_t, pad_b = 60, 20, 40, 45
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" '
            f'fill="white"/>\n<text x="{width / 2}" y="22" text-anchor="middle" '
            f'font-size="14">{_xml(title)}</text>\n')
    xs = [r["step"] for r in steps if isinstance(r.get("loss"), (int, float))
          and math.isfinite(r["loss"])]
    ys = [r["loss"] for r in steps if isinstance(r.get("loss"), (int, float))
          and math.isfinite(r["loss"])]
    if len(xs) < 2:
        return head + (f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no '
                       f'training steps recorded</text>\n</svg>\n')
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def px(x):
        return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def py(y):
        return height - pad_b - (y - y0) / (y1 - y0) * (height - pad_t - pad_b)

    body = []
    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        body.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{py(y):.1f}" '
                    f'y2="{py(y):.1f}" stroke="#ddd"/><text x="{pad_l - 6}" y="{py(y) + 4:.1f}" '
                    f'text-anchor="end">{y:.2f}</text>')
        x = x0 + (x1 - x0) * i / 4
        body.append(f'<text x="{px(x):.1f}" y="{height - pad_b + 16}" '
                    f'text-anchor="middle">{x:.0f}</text>')
    body.append(f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">step</text>')
    body.append(f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" '
                f'text-anchor="middle">loss</text>')
    raw = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
    body.append(f'<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="{raw}"/>')
    mean, window = [], []
    for y in ys:
        window = (window + [y])[-20:]
        mean.append(sum(window) / len(window))
    smooth = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, mean))
    body.append(f'<polyline fill="none" stroke="#08519c" stroke-width="2" points="{smooth}"/>')
    body.append(f'<text x="{width - pad_r}" y="{pad_t}" text-anchor="end" fill="#08519c">'
                f'running mean of 20 steps; last {mean[-1]:.3f}</text>')
    return head + "\n".join(body) + "\n</svg>\n"


def _xml(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)
