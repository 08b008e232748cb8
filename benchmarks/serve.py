"""Load benchmark of `minigrad serve`: N streaming clients for M seconds.

    python -m benchmarks serve [--clients 8] [--seconds 20] [--max-tokens 64]
                               [--checkpoint RUN_DIR] [--max-concurrency 2] [--json]

Starts `minigrad serve` in a process of its own on a free port of 127.0.0.1 (without
--checkpoint, on the `tiny` preset's architecture trained for one step: untrained weights
generate at the speed of trained ones), then runs N clients in this process, each sending
one streamed POST /v1/completions after another (max_tokens M, temperature 1, a seed per
request) until the time is up; requests under way then run to their end. Reported:

    requests/s      completed requests per second of wall time
    TTFT p50 / p99  time to first token: from sending the request to the first streamed
                    token, in ms (the queue wait included)
    tokens/s        generated tokens per second of wall time, all clients together (each
                    request's count from the stream's final usage chunk)
    per request     a request's tokens over its whole time, the queue wait included (p50)
    errors          any answer other than 200, a stream not ending in `data: [DONE]`, or a
                    failed connection; named by kind

Results also go to OUT/serve.md and OUT/serve.jsonl (default runs/bench). Only loopback is
ever contacted. Needs the serve extra (fastapi, uvicorn) and httpx.
"""
import argparse
import asyncio
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import cpu_model

REPO = Path(__file__).resolve().parents[1]
READY_SECONDS = 120


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks serve",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent streaming clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long clients start "
                        "new requests")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--prompt", default="ROMEO:", help="the prompt of every request")
    parser.add_argument("--checkpoint", help="run directory to serve (default: the tiny "
                        "preset, trained one step)")
    parser.add_argument("--max-concurrency", type=int, default=2,
                        help="the server's generations at once")
    parser.add_argument("--max-queue", type=int, help="the server's queue (default: clients)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", default=str(Path("runs") / "bench"),
                        help="folder for serve.md and serve.jsonl")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ("clients", "max_tokens", "max_concurrency"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1")
    if not args.seconds > 0:
        raise SystemExit("--seconds must be > 0")
    try:
        import httpx  # noqa: F401
    except ImportError:
        raise SystemExit("the serve benchmark needs httpx: pip install -e '.[serve,test]'")
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        run = args.checkpoint or tiny_run(Path(tmp))
        with Server(run, args, Path(tmp) / "server.log") as server:
            result = asyncio.run(load(server.url, args))
    result.update(config(args, run))
    report(result, args)
    return 1 if result["errors"] else 0


def tiny_run(directory):
    """A run directory of the tiny preset after one step (its speed is what counts)."""
    out = directory / "tiny"
    log(f"making a tiny run in {out} ...")
    command = [sys.executable, "-m", "models.cli", "train", "--preset", "tiny", "--out",
               str(out), "--steps", "1", "--eval-every", "1", "--eval-batches", "1",
               "--no-final-eval", "--sample-tokens", "0"]
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return str(out)


class Server:
    """`minigrad serve` in a subprocess on a free port; its log in a file."""

    def __init__(self, run, args, log_path):
        self.command = [sys.executable, "-m", "models.cli", "serve", "--checkpoint", str(run),
                        "--port", "0", "--max-concurrency", str(args.max_concurrency),
                        "--max-queue", str(args.max_queue or args.clients),
                        "--max-new-tokens-limit", str(max(args.max_tokens, 1))]
        self.log_path = log_path

    def __enter__(self):
        self.log = open(self.log_path, "w+")
        self.process = subprocess.Popen(self.command, cwd=REPO, stderr=self.log,
                                        stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_SECONDS
        while True:
            first = open(self.log_path).readline()
            if " on http://" in first:
                self.url = first.split(" on ")[1].split()[0].rstrip("/")
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit(f"the server did not start:\n{open(self.log_path).read()}")
            time.sleep(0.1)

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


async def load(url, args):
    """Run the clients; the measurements of every request."""
    import httpx
    limits = httpx.Limits(max_connections=args.clients + 2)
    timeout = httpx.Timeout(300.0)
    records = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        log(f"{args.clients} clients for {args.seconds:g} s against {url} ...")
        start = time.perf_counter()
        deadline = start + args.seconds
        await asyncio.gather(*(client_loop(client, i, deadline, args, records)
                               for i in range(args.clients)))
        wall = time.perf_counter() - start
        health = (await client.get("/health")).json()
    return summarize(records, wall, health)


async def client_loop(client, number, deadline, args, records):
    seed = number * 1_000_000
    while time.perf_counter() < deadline:
        records.append(await one_request(client, args, seed))
        seed += 1


async def one_request(client, args, seed):
    body = {"prompt": args.prompt, "max_tokens": args.max_tokens, "temperature": 1.0,
            "seed": seed, "stream": True, "stream_options": {"include_usage": True}}
    sent = time.perf_counter()
    first = tokens = None
    try:
        async with client.stream("POST", "/v1/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return {"error": f"HTTP {response.status_code}"}
            done = False
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    done = True
                    break
                event = json.loads(line[6:])
                if event.get("usage"):
                    tokens = event["usage"]["completion_tokens"]
                elif first is None and event["choices"] and event["choices"][0]["text"]:
                    first = time.perf_counter()
            if not done:
                return {"error": "stream cut short"}
    except Exception as e:  # a connection refused, reset or timed out
        return {"error": type(e).__name__}
    end = time.perf_counter()
    return {"ttft_ms": None if first is None else (first - sent) * 1000,
            "seconds": end - sent, "tokens": tokens or 0}


def summarize(records, wall, health):
    ok = [r for r in records if "error" not in r]
    ttft = [r["ttft_ms"] for r in ok if r["ttft_ms"] is not None]
    tokens = sum(r["tokens"] for r in ok)
    errors = collections.Counter(r["error"] for r in records if "error" in r)
    pct = lambda q: round(float(np.percentile(ttft, q)), 1) if ttft else None  # noqa: E731
    return {"requests": len(ok), "wall_s": round(wall, 2),
            "requests_per_s": round(len(ok) / wall, 2), "ttft_p50_ms": pct(50),
            "ttft_p99_ms": pct(99), "tokens": tokens, "tokens_per_s": round(tokens / wall, 1),
            "request_tokens_per_s_p50": round(float(np.median(
                [r["tokens"] / r["seconds"] for r in ok])), 1) if ok else None,
            "errors": sum(errors.values()), "error_kinds": dict(errors),
            "server": {k: health[k] for k in ("model", "model_class", "parameters", "device")},
            "server_requests": health["requests"]}


def config(args, run):
    return {"clients": args.clients, "seconds": args.seconds, "max_tokens": args.max_tokens,
            "max_concurrency": args.max_concurrency, "checkpoint": str(run),
            "machine": f"{cpu_model()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}"}


def report(result, args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    line = json.dumps(result)
    with open(out / "serve.jsonl", "a") as f:
        f.write(line + "\n")
    s = result["server"]
    table = "\n".join([
        f"`minigrad serve` under load: {result['clients']} streaming clients for "
        f"{result['seconds']:g} s, max_tokens {result['max_tokens']}, "
        f"{result['max_concurrency']} workers; {s['model']} ({s['model_class']}, "
        f"{s['parameters']:,} parameters, {s['device']}); {result['machine']}",
        "",
        "| requests | requests/s | TTFT p50 ms | TTFT p99 ms | tokens/s | tokens/s per "
        "request (p50) | errors |",
        "|---|---|---|---|---|---|---|",
        f"| {result['requests']} | {result['requests_per_s']} | {result['ttft_p50_ms']} | "
        f"{result['ttft_p99_ms']} | {result['tokens_per_s']} | "
        f"{result['request_tokens_per_s_p50']} | {result['errors']}"
        f"{' ' + str(result['error_kinds']) if result['errors'] else ''} |"])
    (out / "serve.md").write_text(table + "\n")
    print(line if args.json else table)


def log(message):
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
