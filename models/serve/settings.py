"""What a server may be asked, and the `minigrad serve` flags that set it.

Every limit is here, checked where the flag is parsed (models.validation), so that the
command line, the tests and the benchmark build a server the same way:

    max_concurrency       generations running at once, one worker thread each
    max_queue             requests waiting for a worker; one more is answered 503 with
                          Retry-After, and one that waits longer than queue_timeout too
    max_new_tokens_limit  the most tokens one request may ask for (per sample)
    max_prompt_tokens     the longest prompt, in tokens (longer: 422)
    max_body_bytes        the largest request body (larger: 413)
"""
import dataclasses
import ipaddress

from models.generate import MAX_NEW_TOKENS
from models.validation import Float, Int

DEFAULT_PORT = 8011  # the thesis's port
MAX_SAMPLES = 16     # n / num_samples of one request
MAX_LOGPROBS = 20    # alternatives per token that `logprobs` may ask for


@dataclasses.dataclass
class Settings:
    max_concurrency: int = 2
    max_queue: int = 16
    queue_timeout: float = 60.0
    max_new_tokens_limit: int = 2048
    max_prompt_tokens: int = 4096
    max_body_bytes: int = 1 << 20


SPECS = {  # the flag of each setting checks its value with these
    "max_concurrency": Int(1, 256),
    "max_queue": Int(0, 100_000),
    "queue_timeout": Float(0, 3600, low_open=True),
    "max_new_tokens_limit": Int(1, MAX_NEW_TOKENS),
    "max_prompt_tokens": Int(1, 1_000_000),
    "max_body_bytes": Int(1024, 1 << 30),
}
HELP = {
    "max_concurrency": "generations running at once (default %(default)s)",
    "max_queue": "requests that may wait for a free worker; more are answered 503 with "
                 "Retry-After (default %(default)s)",
    "queue_timeout": "seconds a request may wait for a worker before a 503 (default "
                     "%(default)s)",
    "max_new_tokens_limit": "the most new tokens one request may ask for (default "
                            "%(default)s)",
    "max_prompt_tokens": "the longest prompt accepted, in tokens (default %(default)s)",
    "max_body_bytes": "the largest request body accepted, in bytes (default %(default)s)",
}


def add_arguments(parser):
    """The `minigrad serve` flags (models/cli.py)."""
    parser.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=Int(0, 65535).parse, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="where the model runs (default cpu)")
    defaults = Settings()
    for name, spec in SPECS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=spec.parse,
                            default=getattr(defaults, name), help=HELP[name])


def from_args(args):
    return Settings(**{name: getattr(args, name) for name in SPECS})


def is_loopback(host):
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
