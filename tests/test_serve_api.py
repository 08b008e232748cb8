"""Every endpoint of `minigrad serve` through FastAPI's test client: answers, streaming,
log-probabilities, the 422s that name the field, byte-level BPE text streamed in whole
characters, the key/value cache, and the same text as `minigrad generate` for a seed."""
import json
import math
import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # Starlette's note that it would prefer httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from models.cli import main  # noqa: E402
from models.serve import schemas  # noqa: E402
from models.serve.app import create_app  # noqa: E402
from models.serve.engine import Service  # noqa: E402
from models.serve.settings import Settings  # noqa: E402
from serve_helpers import (BPE_FLAGS, BPE_TEXT, CHAR_FLAGS, CHAR_TEXT, events,  # noqa: E402
                           train_run)


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("char"), CHAR_TEXT, CHAR_FLAGS)


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("bpe"), BPE_TEXT, BPE_FLAGS)


def client_for(run, **settings):
    service = Service.load(run, Settings(**settings))
    return TestClient(create_app(service))


@pytest.fixture(scope="module")
def client(char_run):
    with client_for(char_run, max_new_tokens_limit=500, max_prompt_tokens=100) as c:
        yield c


def stream(client, body):
    with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return events(r.iter_lines())


# ---------------------------------------------------------------- facts

def test_health_and_models(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "run"
    assert health["model_class"] == "TransformerLM" and health["parameters"] > 1000
    assert health["device"] == "cpu" and health["uptime_s"] >= 0
    assert health["kv_cache"] is True and health["attention"] == {"layers": 2, "heads": 2}
    assert health["limits"]["max_new_tokens_limit"] == 500
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["run"]


def test_page_and_its_files_come_from_the_app_alone(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == ["/static/playground.css", "/static/playground.js"]
    for asset in assets:
        text = client.get(asset).text
        assert not re.search(r"https?://|//cdn|@import", text), asset  # nothing from outside
    for element in ("prompt", "generate", "stop", "temperature", "top_k", "top_p",
                    "presence_penalty", "frequency_penalty", "repetition_penalty", "max_tokens",
                    "seed", "heatmap", "layer", "head"):
        assert f'id="{element}"' in page.text
    assert client.get("/docs").status_code == 404  # its page would load a CDN's scripts


# ---------------------------------------------------------------- /generate

def test_generate_gives_the_text_of_minigrad_generate(client, char_run, capsys):
    body = {"prompt": "ROMEO:", "max_new_tokens": 40, "temperature": 0.9, "top_k": 8,
            "top_p": 0.95, "presence_penalty": 0.2, "frequency_penalty": 0.1,
            "repetition_penalty": 1.1, "seed": 5}
    answer = client.post("/generate", json=body).json()
    assert main(["generate", "--checkpoint", str(char_run), "--prompt", "ROMEO:",
                 "--max-new-tokens", "40", "--temperature", "0.9", "--top-k", "8",
                 "--top-p", "0.95", "--presence-penalty", "0.2", "--frequency-penalty", "0.1",
                 "--repetition-penalty", "1.1", "--seed", "5"]) == 0
    assert capsys.readouterr().out == answer["text"] + "\n"
    sample = answer["samples"][0]
    assert sample["text"] == "ROMEO:" + sample["completion"]
    assert len(sample["token_ids"]) == 40 and sample["finish_reason"] == "length"
    timing = answer["timing"]
    assert 0 <= timing["queued_ms"] <= timing["first_token_ms"] <= timing["total_ms"]
    assert timing["tokens"] == 40 and timing["tokens_per_s"] > 0
    assert answer["prompt_tokens"] == 6 and answer["seed"] == 5


def test_generate_several_samples_like_minigrad_generate(client, char_run, capsys):
    answer = client.post("/generate", json={"num_samples": 3, "max_new_tokens": 10,
                                            "seed": 2}).json()
    assert main(["generate", "--checkpoint", str(char_run), "--num-samples", "3",
                 "--max-new-tokens", "10", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert printed == "\n---\n".join(s["text"] for s in answer["samples"]) + "\n"
    assert len({s["completion"] for s in answer["samples"]}) > 1


def test_generate_without_a_seed_varies(client):
    texts = {client.post("/generate", json={"max_new_tokens": 30}).json()["text"]
             for _ in range(3)}
    assert len(texts) > 1


def test_greedy_is_temperature_zero(client):
    a = client.post("/generate", json={"max_new_tokens": 12, "temperature": 0, "seed": 1})
    b = client.post("/generate", json={"max_new_tokens": 12, "temperature": 0, "seed": 9})
    assert a.json()["text"] == b.json()["text"]


# ---------------------------------------------------------------- /v1/completions

def test_completion_in_openai_shape_with_logprobs(client):
    body = {"model": "run", "prompt": "JULIET:", "max_tokens": 12, "seed": 3, "logprobs": 3}
    answer = client.post("/v1/completions", json=body).json()
    assert answer["object"] == "text_completion" and answer["id"].startswith("cmpl-")
    assert answer["model"] == "run" and isinstance(answer["created"], int)
    assert answer["usage"] == {"prompt_tokens": 7, "completion_tokens": 12, "total_tokens": 19}
    (choice,) = answer["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "length"
    lp = choice["logprobs"]
    assert "".join(lp["tokens"]) == choice["text"] and len(lp["token_ids"]) == 12
    assert lp["text_offset"] == [sum(map(len, lp["tokens"][:i])) for i in range(12)]
    for token, logprob, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]):
        assert len(top) == 3 and logprob <= 0
        assert max(top.values()) >= logprob        # the most likely is among the alternatives
        assert list(top.values()) == sorted(top.values(), reverse=True)
        if token in top:
            assert top[token] == pytest.approx(logprob)


def test_model_logprobs_are_the_models_own(client):
    """Greedy: the chosen token is the most likely, whatever the sampling settings."""
    answer = client.post("/v1/completions", json={"max_tokens": 8, "temperature": 0,
                                                  "logprobs": 1}).json()
    lp = answer["choices"][0]["logprobs"]
    for token, logprob, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]):
        assert top == {token: pytest.approx(logprob)}
    total = sum(math.exp(v) for v in
                client.post("/v1/completions", json={"max_tokens": 1, "logprobs": 20})
                .json()["choices"][0]["logprobs"]["top_logprobs"][0].values())
    assert 0.5 < total <= 1.0 + 1e-9


def test_stream_is_the_whole_completion_in_pieces(client):
    body = {"prompt": "ROMEO:", "max_tokens": 30, "seed": 11, "logprobs": 2, "n": 2}
    whole = client.post("/v1/completions", json=body).json()
    chunks = stream(client, {**body, "stream_options": {"include_usage": True}})
    assert chunks[-1]["usage"] == whole["usage"] and chunks[-1]["choices"] == []
    for choice in whole["choices"]:
        mine = [c["choices"][0] for c in chunks[:-1] if c["choices"][0]["index"] == choice["index"]]
        assert "".join(c["text"] for c in mine) == choice["text"]
        assert [c["finish_reason"] for c in mine][-1] == "length"
        assert all(c["finish_reason"] is None for c in mine[:-1])
        ids = [i for c in mine for i in c["logprobs"]["token_ids"]]
        assert ids == choice["logprobs"]["token_ids"]
    assert len({c["id"] for c in chunks}) == 1


def test_stop_sequences(client):
    whole = client.post("/v1/completions", json={"max_tokens": 60, "seed": 4}).json()
    text = whole["choices"][0]["text"]
    stop = text[10:12]
    cut = text.index(stop)
    body = {"max_tokens": 60, "seed": 4, "stop": [stop, "never seen"], "logprobs": 0}
    stopped = client.post("/v1/completions", json=body).json()["choices"][0]
    assert stopped["text"] == text[:cut] and stopped["finish_reason"] == "stop"
    assert "".join(stopped["logprobs"]["tokens"]) == text[:cut]
    streamed = stream(client, body)
    assert "".join(c["choices"][0]["text"] for c in streamed) == text[:cut]
    assert streamed[-1]["choices"][0]["finish_reason"] == "stop"


def test_prompt_as_token_ids_and_as_a_list(client):
    ids = client.post("/tokenize", json={"text": "ROMEO:"}).json()["token_ids"]
    body = {"max_tokens": 10, "seed": 6}
    a = client.post("/v1/completions", json={**body, "prompt": "ROMEO:"}).json()
    b = client.post("/v1/completions", json={**body, "prompt": ids}).json()
    c = client.post("/v1/completions", json={**body, "prompt": ["ROMEO:"]}).json()
    assert a["choices"][0]["text"] == b["choices"][0]["text"] == c["choices"][0]["text"]


# ---------------------------------------------------------------- bad requests

BAD = [  # (endpoint, body, field named)
    ("/generate", {"temperature": -0.5}, "temperature"),
    ("/generate", {"temperature": float("nan")}, "temperature"),
    ("/generate", {"temperature": "hot"}, "temperature"),
    ("/generate", {"top_p": 0}, "top_p"),
    ("/generate", {"top_p": 1.5}, "top_p"),
    ("/generate", {"top_k": -1}, "top_k"),
    ("/generate", {"max_new_tokens": 501}, "max_new_tokens"),
    ("/generate", {"max_new_tokens": 0}, "max_new_tokens"),
    ("/generate", {"num_samples": 0}, "num_samples"),
    ("/generate", {"repetition_penalty": 0}, "repetition_penalty"),
    ("/generate", {"seed": -3}, "seed"),
    ("/generate", {"seed": True}, "seed"),
    ("/generate", {"presence_penalty": float("inf")}, "presence_penalty"),
    ("/generate", {"prompt": "ROMEO: ¿qué?"}, "prompt"),
    ("/generate", {"prompt": "R" * 101}, "prompt"),
    ("/generate", {"prompt": 5}, "prompt"),
    ("/generate", {"temprature": 0.5}, "temprature"),
    ("/v1/completions", {"model": "gpt-3.5-turbo-instruct"}, "model"),
    ("/v1/completions", {"max_tokens": 10_000}, "max_tokens"),
    ("/v1/completions", {"n": 17}, "n"),
    ("/v1/completions", {"logprobs": 21}, "logprobs"),
    ("/v1/completions", {"top_p": -1}, "top_p"),
    ("/v1/completions", {"stop": ["a", ""]}, "stop[1]"),
    ("/v1/completions", {"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ("/v1/completions", {"echo": True}, "echo"),
    ("/v1/completions", {"best_of": 3}, "best_of"),
    ("/v1/completions", {"prompt": [1, 2, 999]}, "prompt[2]"),
    ("/v1/completions", {"prompt": ["a", "b"]}, "prompt"),
    ("/v1/completions", {"stream": "yes"}, "stream"),
    ("/tokenize", {"text": "¿"}, "text"),
    ("/tokenize", {}, "text"),
    ("/detokenize", {"token_ids": [0, -1]}, "token_ids[1]"),
    ("/detokenize", {"token_ids": "abc"}, "token_ids"),
    ("/attention", {"prompt": "ROMEO:", "layer": 2}, "layer"),
    ("/attention", {"prompt": "ROMEO:", "head": -1}, "head"),
]


@pytest.mark.parametrize("endpoint, body, field", BAD, ids=[f"{e}-{f}" for e, _, f in BAD])
def test_bad_fields_get_422_naming_them(client, endpoint, body, field):
    r = client.post(endpoint, content=json.dumps(body), headers={"content-type":
                                                                 "application/json"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["param"] == field and error["type"] == "invalid_request_error"
    assert error["message"].startswith(field), error["message"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_malformed_bodies_get_422(client, body):
    r = client.post("/generate", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("the body")


def test_a_form_instead_of_json_is_named(client):
    r = client.post("/generate", content=b"prompt=ROMEO",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["error"]["message"]


def test_a_body_over_the_limit_gets_413(char_run):
    with client_for(char_run, max_body_bytes=2048) as small:
        r = small.post("/generate", json={"prompt": "ROMEO: " * 1000})
        assert r.status_code == 413 and "2,048 bytes" in r.json()["error"]["message"]
        assert small.post("/generate", json={"max_new_tokens": 2}).status_code == 200


def test_unknown_paths_and_methods(client):
    assert client.get("/nothing").json()["error"]["type"] == "not_found"
    assert client.get("/generate").status_code == 405


# ---------------------------------------------------------------- tokens, attention

def test_tokenize_and_detokenize(client):
    tokens = client.post("/tokenize", json={"text": "ROMEO: Ay"}).json()
    assert tokens["count"] == 9 and tokens["tokens"] == list("ROMEO: Ay")
    back = client.post("/detokenize", json={"token_ids": tokens["token_ids"]}).json()
    assert back == {"text": "ROMEO: Ay", "tokens": list("ROMEO: Ay")}


def test_attention_maps(client):
    answer = client.post("/attention", json={"prompt": "ROMEO:"}).json()
    assert answer["tokens"] == list("ROMEO:") and answer["dropped"] == 0
    assert (answer["layers"], answer["heads"]) == (2, 2)
    for layer in answer["weights"]:
        for head in layer:
            assert len(head) == 6
            for q, row in enumerate(head):
                assert sum(row) == pytest.approx(1, abs=1e-3)
                assert all(w == 0 for w in row[q + 1:])       # causal
    one = client.post("/attention", json={"prompt": "ROMEO:", "layer": 1, "head": 0}).json()
    assert one["weights"] == [[answer["weights"][1][0]]]
    long = client.post("/attention", json={"prompt": "ROMEO: " * 4}).json()
    assert long["dropped"] == 28 - 16 and len(long["tokens"]) == 16   # the context


def test_models_without_attention(bpe_run):
    with client_for(bpe_run) as bigram:
        assert bigram.get("/health").json()["attention"] is None
        r = bigram.post("/attention", json={"prompt": "€"})
        assert r.status_code == 422 and r.json()["error"]["param"] == "model"


# ---------------------------------------------------------------- bytes, cache

def test_bpe_streams_whole_characters_only(bpe_run):
    body = {"prompt": "€", "max_tokens": 45, "temperature": 0, "logprobs": 1}
    with client_for(bpe_run) as bpe:
        whole = bpe.post("/v1/completions", json=body).json()["choices"][0]
        chunks = [c["choices"][0] for c in stream(bpe, body)]
    text = whole["text"]
    assert text.startswith("😀é€😀é€") and "\ufffd" not in text
    assert len(whole["logprobs"]["token_ids"]) == 45 > len(text)  # characters of 2 to 4 tokens
    assert "".join(c["text"] for c in chunks) == text
    for c in chunks[:-1]:
        assert c["text"] and "\ufffd" not in c["text"]
        assert len(c["text"].encode()) == len(c["logprobs"]["token_ids"])  # a byte a token
    assert any(p.startswith("bytes:\\x") for p in whole["logprobs"]["tokens"])


def test_bpe_generate_text_and_completion_agree(bpe_run):
    with client_for(bpe_run) as bpe:
        for seed in range(3):
            answer = bpe.post("/generate", json={"prompt": "é", "max_new_tokens": 30,
                                                 "seed": seed}).json()
            sample = answer["samples"][0]
            assert sample["text"] == "é" + sample["completion"]


def test_generation_uses_the_key_value_cache(char_run):
    service = Service.load(char_run, Settings())
    lengths = []
    forward = service.model.forward
    service.model.forward = lambda ids, **kw: lengths.append(ids.shape[1]) or forward(ids, **kw)
    with TestClient(create_app(service)) as c:
        c.post("/generate", json={"prompt": "ROMEO:", "max_new_tokens": 8, "seed": 1})
    # The prompt once, then one new token per step (until the context of 16 is full).
    assert lengths == [6] + [1] * 7


# ---------------------------------------------------------------- any body at all

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
FIELDS = sorted({*schemas.GenerateRequest.model_fields, *schemas.CompletionRequest.model_fields,
                 "text", "token_ids", "layer", "head", "nonsense"})


@pytest.fixture(scope="module")
def fuzz_client(char_run):
    with client_for(char_run, max_new_tokens_limit=12, max_prompt_tokens=40) as c:
        yield c


@settings(max_examples=60)
@given(endpoint=st.sampled_from(["/generate", "/v1/completions", "/tokenize", "/detokenize",
                                 "/attention"]),
       body=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=5)
       | JSON_VALUES)
def test_no_body_gets_a_server_error(fuzz_client, endpoint, body):
    r = fuzz_client.post(endpoint, content=json.dumps(body),
                         headers={"content-type": "application/json"})
    assert r.status_code in (200, 422), (r.status_code, r.text)
    if r.status_code == 422:
        message = r.json()["error"]["message"]
        assert message and "Traceback" not in message
