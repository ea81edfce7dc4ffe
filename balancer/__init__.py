"""Balancer: many LLM API keys behind one endpoint."""
from __future__ import annotations

from typing import Optional

from flask import Flask

from balancer.config import ROOT, Config


def create_app(config: Optional[Config] = None, *, migrations: bool = True) -> Flask:
    """Build the app: config, extensions, blueprints, errors, CLI, runtime.

    :param migrations: bind Flask-Migrate (the ``flask db`` commands). The server has no
        use for them, and leaving them out keeps Alembic and its templates out of every
        worker's memory (about 12 MB each).
    """
    config = config or Config()
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"), instance_path=str(config.INSTANCE_PATH))
    app.config.from_object(config)
    if config.PROXY_HOPS:
        # Behind a reverse proxy (Heroku's router, nginx) the client's address, scheme
        # and host come from the headers it sets, so that the login throttle, the audit
        # trail, METRICS_ALLOW and the upload URLs see the real ones. Only as many hops
        # as the operator says, and only from the proxies' own addresses
        # (PROXY_ADDRESSES): a client that connects directly cannot forge them.
        from balancer.forwarded import TrustedProxyFix
        app.wsgi_app = TrustedProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, config.PROXY_HOPS, config.PROXY_ADDRESSES)
    register_logging(app, config)
    register_host_check(app, config)
    register_extensions(app, migrations)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_runtime(app, config)
    return app


def register_logging(app: Flask, config: Config) -> None:
    """One handler on the package logger, with key redaction."""
    from balancer.logs import configure
    configure(config.log_level())


def register_host_check(app: Flask, config: Config) -> None:
    """Answer only the Host names of TRUSTED_HOSTS (and this machine's own): 400 otherwise."""
    from flask import request
    from werkzeug.exceptions import BadRequest

    from balancer.trusted_hosts import is_trusted, refusal
    trusted = config.BALANCER_TRUSTED_HOSTS

    @app.before_request
    def check_host():
        header = request.environ.get("HTTP_HOST")
        if not is_trusted(header, trusted):
            raise BadRequest(refusal(header or ""))


def register_extensions(app: Flask, migrations: bool = True) -> None:
    """Bind the extensions to this app."""
    from balancer import models  # noqa: F401  (tables must be known to Alembic)
    from balancer.extensions import csrf, db, sqlite_pragmas
    db.init_app(app)
    if migrations:
        from flask_migrate import Migrate
        Migrate(app, db, directory=str(ROOT / "migrations"), compare_type=True,
                render_as_batch=True)
    csrf.init_app(app)
    with app.app_context():
        sqlite_pragmas(db.engine)


def register_blueprints(app: Flask) -> None:
    """The proxy's OpenAI, Gemini and Anthropic APIs under their prefixes, the ops endpoints, the admin UI."""
    from balancer import ops
    from balancer.extensions import csrf
    from balancer.proxy import (anthropic_routes, caches_routes, files_routes, gemini_routes,
                                openai_routes)
    from balancer.proxy.errors_http import (ANTHROPIC_PREFIXES, GEMINI_PREFIXES, OPENAI_PREFIXES,
                                            UPLOAD_PREFIXES)
    for bp, prefixes in ((openai_routes.bp, OPENAI_PREFIXES), (gemini_routes.bp, GEMINI_PREFIXES),
                         (anthropic_routes.bp, ANTHROPIC_PREFIXES),
                         (anthropic_routes.models_bp, ANTHROPIC_PREFIXES[1:]),
                         (files_routes.bp, GEMINI_PREFIXES), (caches_routes.bp, GEMINI_PREFIXES),
                         (files_routes.upload_bp, UPLOAD_PREFIXES)):
        csrf.exempt(bp)
        for index, prefix in enumerate(prefixes):
            app.register_blueprint(bp, url_prefix=prefix,
                                   name=bp.name if index == 0 else f"{bp.name}{index}")
    register_body_check(app)
    app.register_blueprint(ops.bp)
    # The admin UI and its JSON: CSRF-protected, unlike the proxy's APIs.
    from balancer import admin, stats
    admin.init_app(app)
    app.register_blueprint(stats.bp, url_prefix="/admin/stats")


def register_body_check(app: Flask) -> None:
    """The proxy's routes take JSON bodies only (upload chunks aside): 415 otherwise."""
    from flask import request

    from balancer.proxy.body_type import refusal
    from balancer.proxy.errors_http import UPLOAD_PREFIXES, api_format_of

    @app.before_request
    def json_bodies_only():
        fmt = api_format_of(request)
        if fmt is None:
            return None
        chunk = "upload_id" in request.args and request.path.startswith(UPLOAD_PREFIXES)
        return refusal(request, fmt, upload_chunk=chunk)


def register_errorhandlers(app: Flask) -> None:
    """Errors in the caller's API format."""
    from balancer.proxy.errors_http import register
    register(app)


def register_commands(app: Flask) -> None:
    """The ``flask keys|pools|models|tokens|settings|logs|secrets ...`` commands."""
    from balancer.cli import (import_cli, keys_cli, logs_cli, models_cli, pools_cli,
                              secrets_cli, settings_cli, tokens_cli)
    for group in (keys_cli, pools_cli, models_cli, tokens_cli, settings_cli, logs_cli,
                  secrets_cli, import_cli):
        app.cli.add_command(group)


def register_runtime(app: Flask, config: Config) -> None:
    """The process's in-memory state and its background services."""
    from balancer.background import Services
    from balancer.runtime import Runtime
    from balancer.proxy.auth_failures import FailureLimiter
    from balancer.proxy.body import BodySlots
    from balancer.proxy.limits import ClientLimiter
    from balancer.services.owners import OwnerIndex
    rt = Runtime(config)
    rt.owners = OwnerIndex(rt.clock)
    rt.limits = ClientLimiter(rt.clock)
    rt.auth_failures = FailureLimiter(rt.clock)
    rt.body_slots = BodySlots(config.MAX_PARSING_REQUESTS)
    app.extensions["balancer"] = rt
    Services(app, rt)
