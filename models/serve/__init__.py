"""`minigrad serve`: a trained model behind an HTTP API, with a playground page.

    minigrad serve --checkpoint runs/tiny            # http://127.0.0.1:8011/

    settings.py   the server's limits and the `serve` flags
    schemas.py    the request bodies and their checks: a 422 naming the field
    text.py       token ids -> the text a client sees: whole UTF-8 characters only, stop
                  sequences, each token's piece and log-probabilities
    engine.py     the loaded model (Service) and one generation (Job), run step by step in
                  a worker thread, stopped when its client goes away
    workers.py    the workers and the bounded queue in front of them (503 + Retry-After)
    formats.py    the response bodies: /generate, OpenAI's completions, server-sent events
    app.py        the FastAPI application: every endpoint
    middleware.py the request log line and the bound on body size
    server.py     runs the app with uvicorn until Ctrl-C or SIGTERM
    static/       the playground page (plain HTML, CSS and JavaScript: no build, no CDN)

settings, text, engine and workers need only the models package; schemas needs pydantic,
and app, middleware and server FastAPI and uvicorn (`pip install -e '.[serve]'`).
"""
