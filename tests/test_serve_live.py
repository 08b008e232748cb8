"""`minigrad serve` as a client meets it: a live server on a free local port. A full queue
answers 503 with Retry-After; a client that goes away (streaming, waiting for a whole
answer, or still in the queue) stops its generation; a client that never reads holds up
nobody; the command starts, logs a line per request and stops on SIGTERM."""
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from models.cli import main  # noqa: E402
from models.serve.app import create_app  # noqa: E402
from models.serve.engine import Service  # noqa: E402
from models.serve.settings import Settings  # noqa: E402
from serve_helpers import (CHAR_FLAGS, CHAR_TEXT, LiveServer, gated_model,  # noqa: E402
                           raw_request, train_run, wait_until)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("char"), CHAR_TEXT, CHAR_FLAGS)


def serving(run, **settings):
    service = Service.load(run, Settings(**settings))
    return service, LiveServer(create_app(service))


def requests_of(server):
    return httpx.get(server.url + "/health").json()["requests"]


def answer(sock):
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read()


def test_a_full_queue_answers_503_with_retry_after(char_run):
    service, live = serving(char_run, max_concurrency=1, max_queue=1)
    with live as server, gated_model(service) as (gate, calls):
        first = raw_request(server.port, "/generate", {"max_new_tokens": 5})
        wait_until(lambda: requests_of(server)["running"] == 1, what="the first to start")
        second = raw_request(server.port, "/generate", {"max_new_tokens": 5})
        wait_until(lambda: requests_of(server)["queued"] == 1, what="the second to queue")
        started = time.monotonic()
        r = httpx.post(server.url + "/generate", json={"max_new_tokens": 5})
        assert time.monotonic() - started < 2  # at once, not after a wait
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
        assert "--max-queue 1" in r.json()["error"]["message"]
        gate.set()
        assert answer(first)[0] == answer(second)[0] == 200
        assert requests_of(server)["rejected"] == 1


def test_a_request_waits_no_longer_than_the_queue_timeout(char_run):
    service, live = serving(char_run, max_concurrency=1, queue_timeout=0.3)
    with live as server, gated_model(service) as (gate, calls):
        first = raw_request(server.port, "/generate", {"max_new_tokens": 3})
        wait_until(lambda: requests_of(server)["running"] == 1, what="the first to start")
        r = httpx.post(server.url + "/v1/completions", json={"max_tokens": 3, "stream": True})
        assert r.status_code == 503 and "--queue-timeout" in r.json()["error"]["message"]
        gate.set()
        assert answer(first)[0] == 200


def test_a_stream_whose_client_goes_away_stops(char_run, caplog):
    service, live = serving(char_run, max_new_tokens_limit=2000)
    with caplog.at_level(logging.INFO, logger="minigrad.serve"), live as server, \
            gated_model(service, delay=0.005) as (gate, calls):
        gate.set()
        sock = raw_request(server.port, "/v1/completions", {"max_tokens": 2000, "stream": True})
        received = b""
        while received.count(b"data: ") < 5:
            received += sock.recv(4096)
        sock.close()
        wait_until(lambda: requests_of(server)["running"] == 0, 5, "the generation to stop")
        stopped_at = len(calls)
        time.sleep(0.2)
        assert len(calls) == stopped_at < 1000
        assert requests_of(server)["cancelled"] == 1
    wait_until(lambda: "client went away" in caplog.text, 5, "the log line")
    assert "POST /v1/completions 200" in caplog.text


def test_a_stream_read_to_its_end_is_served(char_run, caplog):
    service, live = serving(char_run)
    with caplog.at_level(logging.INFO, logger="minigrad.serve"), live as server:
        for _ in range(3):
            with httpx.stream("POST", server.url + "/v1/completions",
                              json={"max_tokens": 20, "stream": True}) as r:
                assert r.read().endswith(b"data: [DONE]\n\n")
        wait_until(lambda: requests_of(server)["served"] == 3, 5, "the requests to count")
        assert requests_of(server)["cancelled"] == 0
    assert caplog.text.count("POST /v1/completions 200 20 tokens") == 3
    assert "went away" not in caplog.text


def test_a_plain_request_whose_client_goes_away_stops(char_run):
    service, live = serving(char_run, max_new_tokens_limit=2000)
    with live as server, gated_model(service, delay=0.005) as (gate, calls):
        gate.set()
        sock = raw_request(server.port, "/generate", {"max_new_tokens": 2000})
        wait_until(lambda: len(calls) > 5, what="the generation to start")
        sock.close()
        wait_until(lambda: requests_of(server)["running"] == 0, 5, "the generation to stop")
        assert len(calls) < 1000 and requests_of(server)["cancelled"] == 1


def test_a_queued_request_whose_client_goes_away_leaves_the_queue(char_run):
    service, live = serving(char_run, max_concurrency=1)
    with live as server, gated_model(service) as (gate, calls):
        first = raw_request(server.port, "/generate", {"max_new_tokens": 3})
        wait_until(lambda: requests_of(server)["running"] == 1, what="the first to start")
        second = raw_request(server.port, "/generate", {"max_new_tokens": 3})
        wait_until(lambda: requests_of(server)["queued"] == 1, what="the second to queue")
        second.close()
        wait_until(lambda: requests_of(server)["queued"] == 0, 5, "the queue to empty")
        gate.set()
        assert answer(first)[0] == 200
        wait_until(lambda: requests_of(server)["running"] == 0, 5, "the worker to be free")
        assert requests_of(server)["cancelled"] == 1 and len(calls) == 3


def test_a_client_that_never_reads_holds_up_nobody(char_run):
    service, live = serving(char_run, max_concurrency=1, max_new_tokens_limit=2000)
    with live as server:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))
        body = b'{"max_tokens": 2000, "stream": true, "logprobs": 5}'
        slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        # Its generation ends (the text waits in the server for the reader) and frees the
        # only worker for the next request.
        wait_until(lambda: requests_of(server)["running"] == 0, 60, "the generation to end")
        r = httpx.post(server.url + "/generate", json={"max_new_tokens": 5}, timeout=10)
        assert r.status_code == 200
        slow.close()


# ---------------------------------------------------------------- the command

def test_the_command_serves_logs_and_stops_on_sigterm(char_run):
    process = subprocess.Popen(
        [sys.executable, "-m", "models.cli", "serve", "--checkpoint", str(char_run),
         "--port", "0", "--max-concurrency", "1"],
        cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stderr.readline()
        assert first.startswith("serving run (TransformerLM") and "Ctrl-C" in first
        url = first.split(" on ")[1].split()[0].rstrip("/")
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/health").json()["requests"]["running"] == 0
        r = httpx.post(url + "/generate", json={"max_new_tokens": 7, "seed": 1})
        assert r.status_code == 200
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        log = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert "127.0.0.1 POST /generate 200 7 tokens" in log
    assert "GET /health 200" in log and "Traceback" not in log


def test_command_errors_are_one_line(char_run, tmp_path, capsys):
    assert main(["serve", "--checkpoint", str(tmp_path / "none")]) == 2
    assert main(["serve", "--checkpoint", str(char_run), "--max-concurrency", "0"]) == 2
    assert main(["serve", "--checkpoint", str(char_run), "--port", "70000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("minigrad: error: ") for line in err)
    assert "no such checkpoint" in err[0]
    assert "--max-concurrency" in err[1] and "--port" in err[2]


def test_a_port_in_use_is_named(char_run, capsys):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        assert main(["serve", "--checkpoint", str(char_run), "--port", str(port)]) == 2
    finally:
        taken.close()
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_an_address_beyond_this_machine_is_warned_of(char_run, monkeypatch, capsys):
    import uvicorn

    from models.serve import server

    bind = server.bind
    # The test itself listens on loopback only, whatever the address asked for.
    monkeypatch.setattr(server, "bind", lambda host, port: bind("127.0.0.1", 0))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: None)
    assert main(["serve", "--checkpoint", str(char_run), "--host", "0.0.0.0"]) == 0
    err = capsys.readouterr().err
    assert "warning: listening on 0.0.0.0" in err and "no authentication" in err
    assert main(["serve", "--checkpoint", str(char_run)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_openai_client_works_unchanged(char_run):
    """Runs where the `openai` package is installed (it is no dependency of the project)."""
    openai = pytest.importorskip("openai")
    service, live = serving(char_run)
    with live as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
        assert [m.id for m in client.models.list()] == ["run"]
        whole = client.completions.create(model="run", prompt="ROMEO:", max_tokens=12, seed=1,
                                          logprobs=3)
        assert whole.usage.completion_tokens == 12 and len(whole.choices[0].logprobs.tokens) == 12
        streamed = client.completions.create(model="run", prompt="ROMEO:", max_tokens=12,
                                             seed=1, stream=True)
        assert "".join(c.choices[0].text for c in streamed) == whole.choices[0].text
        with pytest.raises(openai.UnprocessableEntityError):
            client.completions.create(model="run", prompt="ROMEO:", temperature=-1)
