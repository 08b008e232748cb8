"""Two plain ASGI middlewares (plain, so that they see a streamed response through to its
end, and a client that goes away): the bound on request bodies, and one log line per
request.

A handler reports how many tokens it generated in `scope["minigrad.tokens"]`, and why it
ended early in `scope["minigrad.note"]`; the line is written when the response has been
sent (or the client has gone), so a stream's line has its whole length and time:

    127.0.0.1 POST /v1/completions 200 64 tokens 812 ms
    127.0.0.1 POST /v1/completions 200 9 tokens 95 ms (client went away)
"""
import json
import logging
import time

log = logging.getLogger("minigrad.serve")
TOKENS = "minigrad.tokens"
NOTE = "minigrad.note"  # why a request ended early (the client went away)


class LimitBody:
    """Requests whose body is larger than `limit` bytes get 413 before the app reads any
    of it. The body is read here, up to the limit, and handed on whole."""

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._too_large(send)
        body, more, disconnected = bytearray(), True, False
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await self._too_large(send)
        await self.app(scope, _replay(bytes(body), disconnected, receive), send)

    async def _too_large(self, send):
        body = json.dumps({"error": {
            "message": f"the request body is larger than {self.limit:,} bytes "
                       f"(--max-body-bytes)", "type": "invalid_request_error",
            "param": None, "code": "body_too_large"}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(body, disconnected, receive):
    """A `receive` that gives the body read already, then what the client sends next (its
    disconnection)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            if not disconnected:
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}
        return await receive()
    return replay


class RequestLog:
    """One line per request: client, method, path, status, tokens, milliseconds."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), None

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            status = status or 500
            raise
        finally:
            client = scope.get("client") or ("-", 0)
            tokens, note = scope.get(TOKENS), scope.get(NOTE)
            log.info("%s %s %s %s%s %.0f ms%s", client[0], scope["method"], scope["path"],
                     status, "" if tokens is None else f" {tokens} tokens",
                     (time.perf_counter() - start) * 1000, f" ({note})" if note else "")
