"""The request bodies, and the checks that turn a bad one into a 422 naming the field.

Two layers, as everywhere in the project. pydantic checks the JSON types (strictly: "1" is
not a number, true is not an integer) and refuses unknown fields, so a typo such as
"temprature" is named rather than ignored. Then every value is checked against the spec
that `minigrad generate` uses for the same option (models.generate.OPTIONS: finite, in
range), and against the server's limits (models.serve.settings). Either way the error is an
`InputError` whose message names the field, the value and what was expected; the app
answers it with 422 and OpenAI's error body, `param` naming the field.

The sampling fields are the thesis's (section 5.2): temperature, top_k, top_p, the
presence and frequency penalties, the token limit, plus the repetition penalty, a seed and
several samples. `POST /v1/completions` takes OpenAI's names for the same things
(max_tokens, n) and adds top_k and repetition_penalty, as llama.cpp's server does.
"""
from typing import Dict, List, NamedTuple, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from models.generate import OPTIONS
from models.serve.settings import MAX_LOGPROBS, MAX_SAMPLES
from models.validation import InputError, Int, Maybe


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class GenerateRequest(Body):
    """POST /generate: the thesis's request."""
    prompt: str = Field("", description="text to continue (empty: a newline)")
    max_new_tokens: int = 200
    temperature: float = Field(1.0, description="0: always the most likely token")
    top_k: Optional[int] = Field(None, description="keep the k most likely tokens (0 or "
                                 "null: all)")
    top_p: Optional[float] = Field(None, description="keep the most likely tokens that "
                                   "reach probability p, in (0, 1]")
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    seed: Optional[int] = Field(None, description="the same seed gives the same text as "
                                "`minigrad generate --seed`")
    num_samples: int = 1


class StreamOptions(Body):
    include_usage: bool = False


class CompletionRequest(Body):
    """POST /v1/completions: OpenAI's legacy completions request."""
    model: Optional[str] = None
    prompt: Union[str, List[str], List[int]] = ""
    max_tokens: Optional[int] = 16
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    stop: Union[str, List[str], None] = None
    seed: Optional[int] = None
    logprobs: Optional[int] = Field(None, description=f"0..{MAX_LOGPROBS}: the log-"
                                    f"probability of each token and of this many alternatives")
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    # llama.cpp's additions, also ours
    top_k: Optional[int] = None
    repetition_penalty: float = 1.0
    # accepted for compatibility, only at the value that changes nothing
    echo: bool = False
    best_of: Optional[int] = None
    suffix: Optional[str] = None
    logit_bias: Optional[Dict[str, float]] = None
    user: Optional[str] = None


class AttentionRequest(Body):
    prompt: str = ""
    layer: Optional[int] = None
    head: Optional[int] = None


class TokenizeRequest(Body):
    text: str


class DetokenizeRequest(Body):
    token_ids: List[int]


# ---------------------------------------------------------------- checked settings

class Sampling(NamedTuple):
    """A checked generation request, whatever endpoint it came from."""
    prompt_ids: list
    max_new_tokens: int
    samples: int
    options: dict          # the keyword arguments of models.generate.decode_steps
    stop: tuple = ()
    logprobs: Optional[int] = None


def check(name, value, spec):
    spec.validate(name, value)
    return value


def sampling_options(body, names):
    """decode_steps' sampling options from `body`, each checked by generate's own spec;
    `names` maps option to body field. top_k 0 means no top-k (as in llama.cpp)."""
    options = {}
    for option, field in names.items():
        value = getattr(body, field)
        if option == "top_k":
            value = check(field, value, Maybe(Int(0))) or None
        options[option] = check(field, value, OPTIONS[option])
    return options


def check_limit(name, value, limit, flag):
    if value > limit:
        raise InputError(f"{name} must be at most {limit:,} on this server ({flag}), got "
                         f"{value:,}")


def generate_sampling(body, prompt_ids, settings):
    """The Sampling of a POST /generate body."""
    check("max_new_tokens", body.max_new_tokens, Int(1))
    check_limit("max_new_tokens", body.max_new_tokens, settings.max_new_tokens_limit,
                "--max-new-tokens-limit")
    check("num_samples", body.num_samples, Int(1, MAX_SAMPLES))
    names = {name: name for name in ("temperature", "top_k", "top_p", "repetition_penalty",
                                     "frequency_penalty", "presence_penalty", "seed")}
    return Sampling(prompt_ids, body.max_new_tokens, body.num_samples,
                    sampling_options(body, names))


def completion_sampling(body, prompt_ids, settings):
    """The Sampling of a POST /v1/completions body."""
    max_tokens = body.max_tokens
    if max_tokens is None:
        max_tokens = settings.max_new_tokens_limit
    check("max_tokens", max_tokens, Int(1))
    check_limit("max_tokens", max_tokens, settings.max_new_tokens_limit,
                "--max-new-tokens-limit")
    check("n", body.n, Int(1, MAX_SAMPLES))
    check("logprobs", body.logprobs, Maybe(Int(0, MAX_LOGPROBS)))
    unsupported(body)
    names = {"temperature": "temperature", "top_k": "top_k", "top_p": "top_p",
             "repetition_penalty": "repetition_penalty", "seed": "seed",
             "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty"}
    options = sampling_options(body, names)
    return Sampling(prompt_ids, max_tokens, body.n, options, stop_sequences(body.stop),
                    body.logprobs)


def unsupported(body):
    """OpenAI fields this server accepts only at the value that changes nothing."""
    if body.echo:
        raise InputError("echo must be false: this server does not repeat the prompt")
    if body.best_of not in (None, 1, body.n):
        raise InputError(f"best_of must be 1 or equal to n ({body.n}): this server does not "
                         f"rank samples, got {body.best_of}")
    if body.suffix:
        raise InputError("suffix must be null: this server does not insert text")
    if body.logit_bias:
        raise InputError("logit_bias must be empty: this server does not bias tokens")


def stop_sequences(stop):
    """At most 4 non-empty strings, as OpenAI allows."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > 4:
        raise InputError(f"stop must be at most 4 strings, got {len(stops)}")
    for i, s in enumerate(stops):
        if not s:
            raise InputError(f"stop[{i}] must be a non-empty string, got {s!r}")
    return tuple(stops)


def field_of(message):
    """The field an InputError message names first (its first word), for OpenAI's
    `param`; None if it names none."""
    head = message.split(" ", 1)[0].rstrip(":")
    base = head.split("[", 1)[0]
    known = set(CompletionRequest.model_fields) | set(GenerateRequest.model_fields)
    known |= {"text", "token_ids", "layer", "head"}
    return head if base in known else None
