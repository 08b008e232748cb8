"""`minigrad serve`: a trained model behind an HTTP API, with a playground page.

    minigrad serve --checkpoint runs/tiny            # http://127.0.0.1:8011/

    settings.py   the server's limits and the `serve` flags (no web framework needed)
    schemas.py    the request bodies and their checks: a 422 naming the field
    text.py       token ids -> the text a client sees: whole UTF-8 characters only, stop
                  sequences, each token's piece and log-probabilities
    engine.py     the loaded model, the bounded queue (503 + Retry-After when full), one
                  generation per worker thread, stopped when its client goes away
    app.py        the FastAPI application: every endpoint
    middleware.py the request log line and the bound on body size
    server.py     runs the app with uvicorn until Ctrl-C or SIGTERM
    static/       the playground page (plain HTML, CSS and JavaScript: no build, no CDN)

Only app.py, middleware.py and server.py import FastAPI / uvicorn (`pip install -e
'.[serve]'`); the rest is plain Python on the models package.
"""
