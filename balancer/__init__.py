"""Balancer: many LLM API keys behind one endpoint."""
from __future__ import annotations

from typing import Optional

from flask import Flask

from balancer.config import ROOT, Config


def create_app(config: Optional[Config] = None) -> Flask:
    """Build the app: config, extensions, blueprints, errors, CLI, runtime."""
    config = config or Config()
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"), instance_path=str(config.INSTANCE_PATH))
    app.config.from_object(config)
    if config.PROXY_HOPS:
        # Behind a reverse proxy (Heroku's router, nginx) every peer is the proxy:
        # take the client's address, scheme and host from the headers it sets, so
        # that the login throttle, the audit trail, METRICS_ALLOW and the upload
        # URLs handed to clients see the real ones. Only as many hops as the
        # operator says: a client cannot forge its way past a trusted proxy.
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = config.PROXY_HOPS
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    register_logging(app, config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_runtime(app, config)
    return app


def register_logging(app: Flask, config: Config) -> None:
    """One handler on the package logger, with key redaction."""
    from balancer.logs import configure
    configure(config.log_level())


def register_extensions(app: Flask) -> None:
    """Bind the extensions to this app."""
    from balancer import models  # noqa: F401  (tables must be known to Alembic)
    from balancer.extensions import csrf, db, migrate, sqlite_pragmas
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), compare_type=True,
                     render_as_batch=True)
    csrf.init_app(app)
    with app.app_context():
        sqlite_pragmas(db.engine)


def register_blueprints(app: Flask) -> None:
    """The proxy's OpenAI and Gemini APIs under their prefixes, the ops endpoints, the admin UI."""
    from balancer import ops
    from balancer.extensions import csrf
    from balancer.proxy import caches_routes, files_routes, gemini_routes, openai_routes
    from balancer.proxy.errors_http import GEMINI_PREFIXES, OPENAI_PREFIXES, UPLOAD_PREFIXES
    for bp, prefixes in ((openai_routes.bp, OPENAI_PREFIXES), (gemini_routes.bp, GEMINI_PREFIXES),
                         (files_routes.bp, GEMINI_PREFIXES), (caches_routes.bp, GEMINI_PREFIXES),
                         (files_routes.upload_bp, UPLOAD_PREFIXES)):
        csrf.exempt(bp)
        for index, prefix in enumerate(prefixes):
            app.register_blueprint(bp, url_prefix=prefix,
                                   name=bp.name if index == 0 else f"{bp.name}{index}")
    app.register_blueprint(ops.bp)
    # The admin UI and its JSON: CSRF-protected, unlike the proxy's APIs.
    from balancer import admin, stats
    admin.init_app(app)
    app.register_blueprint(stats.bp, url_prefix="/admin/stats")


def register_errorhandlers(app: Flask) -> None:
    """Errors in the caller's API format."""
    from balancer.proxy.errors_http import register
    register(app)


def register_commands(app: Flask) -> None:
    """The ``flask keys|pools|models|tokens|settings|logs|secrets ...`` commands."""
    from balancer.cli import (keys_cli, logs_cli, models_cli, pools_cli, secrets_cli,
                              settings_cli, tokens_cli)
    for group in (keys_cli, pools_cli, models_cli, tokens_cli, settings_cli, logs_cli,
                  secrets_cli):
        app.cli.add_command(group)


def register_runtime(app: Flask, config: Config) -> None:
    """The process's in-memory state and its background services."""
    from balancer.background import Services
    from balancer.runtime import Runtime
    from balancer.proxy.limits import ClientLimiter
    from balancer.services.owners import OwnerIndex
    rt = Runtime(config)
    rt.owners = OwnerIndex(rt.clock)
    rt.limits = ClientLimiter(rt.clock)
    app.extensions["balancer"] = rt
    Services(app, rt)
