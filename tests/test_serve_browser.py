"""The playground page in a real headless Chromium, driven through ChromeDriver's W3C
WebDriver protocol (plain HTTP: no Python package needed): load the page, type a prompt,
generate, and check that the tokens stream in with their probabilities, that hovering a
token shows its alternatives, and that the attention heatmap draws.

Needs Debian's `chromium` and `chromium-driver` (apt-get install chromium chromium-driver);
skipped where either is missing. The screenshot goes to the test's temporary directory, or
to the path in $MINIGRAD_SCREENSHOT:

    MINIGRAD_SCREENSHOT=/tmp/playground.png pytest tests/test_serve_browser.py
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from models.serve.app import create_app  # noqa: E402
from models.serve.engine import Service  # noqa: E402
from models.serve.settings import Settings  # noqa: E402
from serve_helpers import CHAR_FLAGS, CHAR_TEXT, LiveServer, train_run  # noqa: E402

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
# As the machine notes say for a closed network: no background connections, no sandbox
# (the tests run as root), a fresh profile.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1500,1000"]

pytestmark = pytest.mark.skipif(BROWSER is None or DRIVER is None,
                                reason="needs chromium and chromedriver (apt-get install "
                                       "chromium chromium-driver)")


class WebDriver:
    """The few WebDriver commands the test needs."""

    def __init__(self, port, profile):
        self.base = f"http://127.0.0.1:{port}"
        options = {"binary": BROWSER, "args": FLAGS + [f"--user-data-dir={profile}"]}
        session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}})
        self.session = f"/session/{session['sessionId']}"

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"WebDriver {method} {path}: {e.read()[:500]!r}") from None

    def command(self, method, path, body=None):
        return self.call(method, self.session + path, body)

    def find(self, css):
        return self.command("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def script(self, source, *args):
        return self.command("POST", "/execute/sync", {"script": source, "args": list(args)})

    def wait(self, source, seconds=30, what="the page"):
        deadline = time.monotonic() + seconds
        while not (value := self.script(source)):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)
        return value

    def close(self):
        self.call("DELETE", self.session)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser(tmp_path):
    port = free_port()
    driver = subprocess.Popen([DRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "chromedriver did not start"
                time.sleep(0.1)
        web = WebDriver(port, tmp_path / "profile")
        yield web
        web.close()
    finally:
        driver.terminate()
        driver.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    run = train_run(tmp_path_factory.mktemp("char"), CHAR_TEXT, CHAR_FLAGS)
    with LiveServer(create_app(Service.load(run, Settings()))) as live:
        yield live


def test_playground_streams_tokens_and_draws_attention(server, browser, tmp_path):
    web = browser
    web.command("POST", "/url", {"url": server.url + "/"})
    web.wait("return document.getElementById('layer').options.length > 0", what="the model")
    assert "TransformerLM" in web.script("return document.getElementById('model-info').textContent")

    prompt = web.find("#prompt")
    web.command("POST", f"/element/{prompt}/clear", {})
    web.command("POST", f"/element/{prompt}/value", {"text": "JULIET:"})
    web.script("""const set = (id, v) => { const e = document.getElementById(id); e.value = v;
                  e.dispatchEvent(new Event('input')); };
                  set('max_tokens', 40); set('seed', 7);""")
    web.command("POST", f"/element/{web.find('#generate')}/click", {})

    web.wait("return document.getElementById('output').dataset.done === 'true'",
             what="the sample to finish")
    tokens = web.script("""return [...document.querySelectorAll('#tokens .token')].map(
                           t => [t.textContent, t.style.backgroundColor, t.tokens.length])""")
    status = web.script("return document.getElementById('status').textContent")
    assert len(tokens) == 40, status                 # one box per character-level token
    assert all(colour.startswith("rgb(") for _, colour, _ in tokens)
    assert len({colour for _, colour, _ in tokens}) > 3  # coloured by probability
    assert "40 tokens" in status and "finished: length" in status

    # Hover over the fifth token: its five most likely alternatives appear.
    fifth = web.script("return document.querySelectorAll('#tokens .token')[4]")[ELEMENT]
    web.command("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse", "actions": [
        {"type": "pointerMove", "origin": {ELEMENT: fifth}, "x": 0, "y": 0}]}]})
    web.wait("return !document.getElementById('tooltip').hidden", what="the tooltip")
    rows = web.script("return document.querySelectorAll('#tooltip td:first-child').length")
    assert rows == 5

    # The heatmap of the prompt: 7 tokens, drawn; another head redraws it.
    drawn = web.wait("return document.getElementById('heatmap').dataset.drawn",
                     what="the heatmap")
    assert drawn == "0,0,7"
    coloured = web.script("""const c = document.getElementById('heatmap');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;""")
    assert coloured > 50_000                          # most of the canvas is painted
    web.script("""const h = document.getElementById('head'); h.value = '1';
                  h.dispatchEvent(new Event('change'));""")
    assert web.script("return document.getElementById('heatmap').dataset.drawn") == "0,1,7"

    shot = os.environ.get("MINIGRAD_SCREENSHOT") or str(tmp_path / "playground.png")
    with open(shot, "wb") as f:
        f.write(base64.b64decode(web.command("GET", "/screenshot")))
    print(f"screenshot: {shot}")
