"""What the serve tests share: two tiny trained runs, a live server on a free local port,
and a reader of server-sent events.

    char run   a 2-layer transformer on a character tokenizer, trained a few steps
    bpe run    a bigram model on a byte-level BPE tokenizer with no merges, trained on
               "€😀é..." until it repeats the bytes of those characters: every character
               is 2 to 4 tokens, so its text streams only whole characters if the server
               holds the pieces back correctly
"""
import contextlib
import json
import socket
import threading
import time

from models.cli import main

CHAR_TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me.\n" * 15
BPE_TEXT = "€😀é" * 300
CHAR_FLAGS = ["--n-layer", "2", "--n-head", "2", "--n-embd", "16", "--context", "16",
              "--batch-size", "8", "--steps", "30", "--lr", "1e-2"]
BPE_FLAGS = ["--model", "bigram", "--tokenizer", "bpe", "--vocab-size", "256",
             "--context", "8", "--batch-size", "16", "--steps", "150", "--lr", "0.3",
             "--warmup-steps", "0", "--weight-decay", "0"]
COMMON = ["--eval-every", "1000", "--eval-batches", "1", "--sample-tokens", "0",
          "--no-final-eval"]


def train_run(directory, text, flags):
    corpus = directory / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    run = directory / "run"
    assert main(["train", "--corpus", str(corpus), "--out", str(run), *flags, *COMMON]) == 0
    return run


class LiveServer:
    """The app served by uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app):
        import uvicorn
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def raw_request(port, path, body):
    """An open socket that has sent a POST with a JSON body (for clients that go away or
    never read)."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                 f"\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


def events(lines):
    """The JSON objects of server-sent `data:` lines, up to `data: [DONE]` (which must end
    the stream); an AssertionError otherwise."""
    found = []
    for line in lines:
        if not line.startswith("data: "):
            assert line == "", line
            continue
        if line == "data: [DONE]":
            return found
        found.append(json.loads(line[6:]))
    raise AssertionError("the stream did not end with data: [DONE]")


def wait_until(condition, seconds=10, what="the condition"):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextlib.contextmanager
def gated_model(service, delay=0.0):
    """The service's model waits for `gate.set()` before each forward pass, and `delay`
    seconds more: a generation that holds its worker for as long as the test wants.
    Yields (gate, calls), calls being the list of input lengths of every forward pass."""
    model = service.model
    gate, calls = threading.Event(), []
    forward = model.forward

    def waiting(ids, *args, **kwargs):
        gate.wait(30)
        time.sleep(delay)
        calls.append(ids.shape[1])
        return forward(ids, *args, **kwargs)

    model.forward = waiting
    try:
        yield gate, calls
    finally:
        gate.set()
        del model.forward
