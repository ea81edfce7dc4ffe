"""Run the fake upstream standalone.

``python -m tests.fake_upstream --host 127.0.0.1 --port 8090 [--server threaded|gevent]``

With ``--server gevent`` the standard library is monkey-patched before anything else is
imported, and gevent.pywsgi serves thousands of concurrent streams. Drive it over HTTP with
``FakeControl(url)``.
"""

from __future__ import annotations

import argparse
import sys


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--server", choices=("threaded", "gevent"), default="threaded")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument("--chunks", type=int, default=3, help="content chunks per stream")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--sse-crlf", action="store_true", help="native SSE uses \\r\\n\\r\\n")
    parser.add_argument("--embed-dim", type=int, default=16, help="default embedding length")
    return parser.parse_args(argv)


def _raise_fd_limit() -> None:
    """Thousands of concurrent streams need thousands of file descriptors."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def main(argv: list[str]) -> None:
    """Parse options, then serve until interrupted."""
    args = _parse(argv)
    if args.server == "gevent":
        # Before the fake's own modules import threading/socket/time users.
        from gevent import monkey

        monkey.patch_all()

    from .app import FakeApp
    from .runners import ThreadedServer, serve_gevent
    from .state import Config, FakeState, updated_config

    config = updated_config(
        Config(),
        latency=args.latency,
        chunks=args.chunks,
        chunk_delay=args.chunk_delay,
        sse_crlf=args.sse_crlf,
        embed_dim=args.embed_dim,
    )
    app = FakeApp(FakeState(config))
    _raise_fd_limit()
    url = f"http://{args.host}:{args.port}"
    print(f"fake upstream ({args.server}) on {url}", file=sys.stderr, flush=True)
    try:
        if args.server == "gevent":
            serve_gevent(app, args.host, args.port)
        else:
            ThreadedServer((args.host, args.port), app).serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
