"""B10 (ours): the web process's instructions for one `POST /run`, counted by valgrind,
against the bare route's and the floor route's (B1's baselines).

B1's rates move with the machine by more than most changes to the web's Python; an
instruction count does not. So each route's WSGI application is called here in one process
as gunicorn calls it (an environ as gunicorn builds one, the body read, the answer iterated
and closed) under callgrind, which counts only the loop over N requests. The routes are
B1's: `POST /run` on the app (an embedding job, by API key), the bare route (bench/bare_app.py)
and the floor route (bench/floor_app.py). gunicorn's own work is the same for all three and
is not counted; neither is PostgreSQL's (B8) or Redis's.
"""
import io
import json
import os
import sys

from callgrind import count_each, counted

N = int(os.environ.get("B10_REQUESTS", "200"))
WARM_UP = 50  # first requests: prepared statements, kept connections, lazy imports
ROUTES = ("submit", "bare", "floor")


def main() -> None:
    counts = count_each(__file__, ROUTES, "B10")
    if counts is None:
        return
    for name, total in counts.items():
        print(f"{name}: {total // N:,} instructions a request")
    for name in ("bare", "floor"):
        print(f"B10: POST /run / the {name} route = {counts['submit'] / counts[name]:.2f} "
              f"(instructions in the web process's WSGI call; {N} requests each)")


def wsgi_request(app, body: bytes, headers: dict):
    """A call of `app` as gunicorn makes one: environ in, status and body out."""
    answer = []

    def start_response(status, response_headers, exc_info=None):
        answer.append(status)

    def call() -> None:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/run", "QUERY_STRING": "",
            "RAW_URI": "/run", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_SOFTWARE": "gunicorn",
            "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "SCRIPT_NAME": "",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": True,
            "wsgi.run_once": False, "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_CONNECTION": "keep-alive",
            **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}}
        result = app(environ, start_response)
        try:
            b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        if not answer.pop().startswith("202"):
            raise RuntimeError("a B10 request was not accepted")
    return call


def requests_of(route: str, url: str) -> list:
    """N + WARM_UP calls of `route`'s WSGI application, on the database at `url`."""
    from b1_b2_submit import EMBED, account_key
    from common import floor_env, make_app
    if route == "submit":
        app = make_app(url)
        call = wsgi_request(app, json.dumps(EMBED).encode(),
                            {"Authorization": f"Bearer {account_key(url)}"})
    elif route == "floor":
        os.environ.update(floor_env(url))
        import floor_app
        call = wsgi_request(floor_app.app, json.dumps(EMBED).encode(), {})
    else:
        import bare_app
        call = wsgi_request(bare_app.app, b"{}", {})
    return [call] * (N + WARM_UP)


if __name__ == "__main__":
    if len(sys.argv) == 3:
        from common import fresh_database
        url, drop = fresh_database()
        try:
            calls = requests_of(sys.argv[1], url)
            counted(sys.argv[2], calls[:WARM_UP], calls[WARM_UP:])
        finally:
            drop()
    else:
        main()
