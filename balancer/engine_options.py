"""How Balancer connects to its database, per kind: timeouts, pools, keepalives."""
from __future__ import annotations

from sqlalchemy.engine import url as sa_url


#: PostgreSQL's TCP keepalives: a peer gone silent is found after about 30 + 3 x 10 s of
#: waiting, however long a statement legitimately runs on a live server.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                 "keepalives_count": 3}


def engine_options(url: str, connect_timeout: int = 10, read_timeout: int = 0) -> dict:
    """Connection options per database kind.

    ``connect_timeout`` bounds reaching the server and its greeting; ``read_timeout``
    (0: none) bounds the wait for one answer. The server processes set it; the flask CLI
    does not, as a migration's ALTER of a big table may be silent for minutes.
    """
    if url.startswith("sqlite"):
        # The busy timeout lets several workers write the same file in turn;
        # WAL (set on connect, see extensions.py) lets readers go on meanwhile.
        # SQLite waits for a lock inside C: under gevent that wait stops every
        # request of the worker, so there it is kept short. The flusher writes in
        # a thread of its own, with a longer wait (balancer.dbthread).
        return {"connect_args": {"timeout": 0.25 if under_gevent() else 15,
                                 "check_same_thread": False}}
    options = {"pool_pre_ping": True, "pool_recycle": 1800, "pool_size": 5, "max_overflow": 5}
    if url.startswith("postgresql"):
        # libpq has no read timeout: keepalives find a silent peer while a statement is
        # awaited, and tcp_user_timeout one that stops acknowledging what is sent.
        connect_args = {"connect_timeout": connect_timeout, **PG_KEEPALIVES}
        if read_timeout:
            connect_args["tcp_user_timeout"] = read_timeout * 1000
    elif url.startswith("mysql"):
        # PyMySQL reads the server's greeting, and every answer, with the read timeout
        # (none by default: a silent server would be waited for until TCP gives up).
        connect_args = {"connect_timeout": connect_timeout}
        if read_timeout:
            connect_args.update(read_timeout=read_timeout, write_timeout=read_timeout)
    else:
        return options
    # What the URL's own query sets (?connect_timeout=30) is the operator's choice.
    given = sa_url.make_url(url).query
    return {**options, "connect_args": {k: v for k, v in connect_args.items() if k not in given}}


def under_gevent() -> bool:
    """True in a gevent worker (the standard library is patched by then)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")
