"""Run the app with uvicorn: `minigrad serve` (models/cli.py) calls `serve(args)`.

The run is loaded once, before the port is opened, so a bad checkpoint is one error line
and status 2 (as for every command). The server then runs until Ctrl-C or SIGTERM, which
uvicorn turns into a graceful shutdown: no new connections, running generations cancelled,
at most SHUTDOWN_SECONDS for the rest. It listens on 127.0.0.1 unless told otherwise; any
other address is a choice that gets a warning, since the API has no authentication.
"""
import logging
import socket
import sys

import uvicorn

from minigrad import backend
from models.serve.app import create_app
from models.serve.engine import Service
from models.serve.settings import from_args, is_loopback

SHUTDOWN_SECONDS = 5
BACKLOG = 2048
SPARE_CONNECTIONS = 64  # beyond the workers and the queue (page loads, /health, streams)


def serve(args):
    settings = from_args(args)
    service = Service.load(args.checkpoint, settings, args.device)
    sock = bind(args.host, args.port)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if not is_loopback(args.host):
        print(f"minigrad: warning: listening on {args.host}: anyone who can reach this "
              f"machine can use the model (the API has no authentication)", file=sys.stderr)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {service.name} ({type(service.model).__name__}, "
          f"{sum(p.numel() for p in service.model.parameters()):,} parameters, "
          f"{args.device}) on http://{shown}:{port}/  (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    config = uvicorn.Config(
        create_app(service), log_level="warning", access_log=False, log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        limit_concurrency=settings.max_concurrency + settings.max_queue + SPARE_CONNECTIONS)
    # Decoding multiplies one token's row by each weight matrix: far too little work to
    # share among BLAS threads, which on a busy machine wait for each other (measured on 2
    # cores: 5 ms a token on one thread, 15 to 40 ms on two). The workers run in parallel.
    with sock, backend.blas_threads(1):
        uvicorn.Server(config).run(sockets=[sock])
    return 0


def bind(host, port):
    """A listening socket on host:port; an OSError naming them if it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)  # from now on connections wait for uvicorn, none is refused
    except OSError as e:
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock
