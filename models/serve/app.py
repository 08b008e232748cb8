"""The HTTP API of `minigrad serve`, as a FastAPI application: `create_app(service)`.

    GET  /                 the playground page (static/index.html)
    GET  /health           model, parameters, device, uptime, limits, requests in flight
    GET  /v1/models        the one model served, as OpenAI lists models
    POST /generate         the thesis's request -> text, token ids, finish reason, timing
    POST /v1/completions   OpenAI's completions, whole or streamed (server-sent events
                           ending in `data: [DONE]`), with logprobs and top alternatives
    POST /tokenize         text -> token ids and pieces
    POST /detokenize       token ids -> text and pieces
    POST /attention        every layer's and head's attention weights for a prompt

Failures all have OpenAI's error body {"error": {"message", "type", "param", "code"}}:
422 for a bad request (the message and `param` name the field), 413 for a body over the
limit, 503 with Retry-After when the queue is full, 500 only for a fault of the server.
A client that goes away stops its generation: a stream when its connection closes, a
plain request when its disconnection arrives, a request still in the queue leaves it.
"""
import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from models.serve import formats, schemas
from models.serve.engine import Job
from models.serve.workers import QueueFull, Slots
from models.serve.middleware import NOTE, TOKENS, LimitBody, RequestLog
from models.validation import InputError

STATIC = resources.files("models.serve") / "static"


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


def create_app(service):
    """The application serving `service` (models.serve.engine.Service)."""
    settings = service.settings
    executor = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="generate")
    service.slots = Slots(settings.max_concurrency, settings.max_queue, settings.queue_timeout)
    live = set()  # jobs running, cancelled at shutdown

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        for job in list(live):
            job.cancel()
        executor.shutdown(wait=True, cancel_futures=True)

    app = FastAPI(title="minigrad serve", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None,  # their pages load scripts from a CDN
                  description=__doc__.split("\n\n")[0])
    app.state.service = service
    app.add_middleware(LimitBody, limit=settings.max_body_bytes)
    app.add_middleware(RequestLog)  # added last: outermost, so it sees every answer
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _add_error_handlers(app)

    async def start(request, sampling):
        """A running Job, once a worker is free; QueueFull or ClientGone otherwise."""
        await until_first(request, service.slots.acquire(), on_gone=None)
        job = Job(service, sampling)
        live.add(job)
        job.start(executor)
        job.future.add_done_callback(lambda _: live.discard(job))
        return job

    async def collect(request, job, completion):
        """Wait for the job (cancelled if the client goes), its chunks into `completion`."""
        try:
            await until_first(request, asyncio.shield(job.future), on_gone=job.cancel)
        finally:
            request.scope[TOKENS] = job.tokens
        while not job.events.empty():
            event = job.events.get_nowait()
            if event[0] == "chunk":
                completion.add(*event[1:])
            elif event[0] == "error":
                raise RuntimeError(event[1])
        service.stats["served"] += 1
        service.stats["tokens"] += job.tokens

    # ------------------------------------------------------------ pages and facts

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/health")
    async def health():
        return service.info()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": service.name, "object": "model",
                                            "created": int(service.started),
                                            "owned_by": "minigrad"}]}

    # ------------------------------------------------------------ generation

    @app.post("/generate")
    async def generate(body: schemas.GenerateRequest, request: Request):
        arrived = time.perf_counter()
        ids = await run_in_threadpool(service.encode, body.prompt)
        sampling = schemas.generate_sampling(body, ids, settings)
        job = await start(request, sampling)
        completion = formats.Completion(service.name, sampling.samples, None)
        await collect(request, job, completion)
        return formats.generate_body(service, job, completion, arrived)

    @app.post("/v1/completions")
    async def completions(body: schemas.CompletionRequest, request: Request):
        if body.model is not None and body.model != service.name:
            raise InputError(f"model: this server serves {service.name!r}, not {body.model!r} "
                             f"(GET /v1/models)")
        prompt = body.prompt
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
            if len(prompt) > 1:
                raise InputError(f"prompt: one prompt per request, got a list of {len(prompt)}")
            prompt = prompt[0]
        ids = await run_in_threadpool(service.encode, prompt)
        sampling = schemas.completion_sampling(body, ids, settings)
        job = await start(request, sampling)
        completion = formats.Completion(service.name, sampling.samples, sampling.logprobs)
        if body.stream:
            usage = body.stream_options is not None and body.stream_options.include_usage
            return JobStream(job, _events(job, completion, usage), service)
        await collect(request, job, completion)
        return completion.response(formats.usage(len(ids), job.tokens))

    # ------------------------------------------------------------ tokens and attention

    @app.post("/tokenize")
    async def tokenize(body: schemas.TokenizeRequest):
        try:
            ids = await run_in_threadpool(service.tokenizer.encode, body.text)
        except ValueError as e:
            raise InputError(f"text: {e}") from None
        return {"token_ids": ids, "tokens": service.pieces(ids), "count": len(ids)}

    @app.post("/detokenize")
    async def detokenize(body: schemas.DetokenizeRequest):
        ids = service.check_ids(body.token_ids)
        return {"text": service.decode(ids), "tokens": service.pieces(ids)}

    @app.post("/attention")
    async def attention(body: schemas.AttentionRequest, request: Request):
        ids = await run_in_threadpool(service.encode, body.prompt)
        await until_first(request, service.slots.acquire(), on_gone=None)
        try:  # a worker's place, so that a flood of these queues like generations
            return await run_in_threadpool(service.attention, ids, body.layer, body.head)
        finally:
            service.slots.release()

    return app


async def _events(job, completion, include_usage):
    """The server-sent events of a streamed completion; `job.delivered` once the last is
    handed on."""
    while True:
        event = await job.events.get()
        job.delivered = event[0] != "chunk"
        if event[0] == "chunk":
            _, row, chunk, finish = event
            if chunk.text or chunk.tokens or finish:
                yield formats.sse(completion.chunk(row, chunk, finish))
        elif event[0] == "error":
            yield formats.sse(formats.error_body(event[1], kind="server_error"))
            yield formats.SSE_DONE
            return
        else:
            if include_usage:
                usage = formats.usage(len(job.sampling.prompt_ids), job.tokens)
                yield formats.sse(completion.usage_chunk(usage))
            yield formats.SSE_DONE
            return


class JobStream(StreamingResponse):
    """A streamed job: cancelled when the response ends early (the client went away)."""

    def __init__(self, job, content, service):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.job, self.service = job, service

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            job, stats = self.job, self.service.stats
            job.cancel()  # nothing if it has ended
            if not job.delivered:
                scope[NOTE] = "client went away"
                stats["cancelled"] += 1
            else:
                stats["served"] += 1
            stats["tokens"] += job.tokens
            scope[TOKENS] = job.tokens


async def until_first(request, awaitable, on_gone):
    """The result of `awaitable`, unless the client disconnects first: then it is
    cancelled, `on_gone()` called, and ClientGone raised."""
    task = asyncio.ensure_future(awaitable)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, QueueFull):
            await task
        if on_gone is not None:
            on_gone()
        request.scope[NOTE] = "client went away"
        request.app.state.service.stats["cancelled"] += 1
        raise ClientGone()
    return task.result()


async def _disconnected(request):
    while (await request.receive())["type"] != "http.disconnect":
        pass


# ---------------------------------------------------------------- errors

def _add_error_handlers(app):
    @app.exception_handler(InputError)
    async def bad_value(request, e):
        message = " ".join(str(e).split())
        return JSONResponse(formats.error_body(message, schemas.field_of(message)), 422)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request, e):
        kind = request.headers.get("content-type", "")
        if kind and "json" not in kind:  # curl -d sends a form unless told otherwise
            message, param = (f"the body must be JSON, sent with Content-Type: "
                              f"application/json (not {kind})"), None
        else:
            message, param = describe_validation_error(e.errors()[0])
        return JSONResponse(formats.error_body(message, param), 422)

    @app.exception_handler(QueueFull)
    async def busy(request, e):
        request.app.state.service.stats["rejected"] += 1
        return JSONResponse(formats.error_body(f"server busy: {e}; retry after "
                                               f"{e.retry_after} s", kind="server_busy"),
                            503, headers={"Retry-After": str(e.retry_after)})

    @app.exception_handler(ClientGone)
    async def gone(request, e):
        return Response(status_code=499)  # nobody reads it: nginx's "client closed request"

    @app.exception_handler(HTTPException)
    async def http_error(request, e):
        return JSONResponse(formats.error_body(str(e.detail), kind="not_found"
                                               if e.status_code == 404 else "invalid_request"),
                            e.status_code, headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def fault(request, e):
        return JSONResponse(formats.error_body(f"{type(e).__name__}: {e}",
                                               kind="server_error"), 500)


def describe_validation_error(error):
    """(message, field) of pydantic's first complaint about a body."""
    loc = list(error.get("loc", ()))[1:]  # after "body"
    kind, value = error.get("type", ""), error.get("input")
    if kind == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', '')})", None
    if not loc:
        return "the body must be a JSON object of the request's fields", None
    # A union's complaint carries the type it tried ("prompt", "list[int]", 3): keep the
    # field and the indices.
    field = str(loc[0]) + "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))
    if kind == "extra_forbidden":
        return f"{field}: unknown field", str(loc[0])
    if kind == "missing":
        return f"{field}: required", str(loc[0])
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{field}: {error.get('msg', 'invalid').lower()}, got {shown}", str(loc[0])
