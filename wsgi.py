"""WSGI entry point for gunicorn (see gunicorn.conf.py)."""
from balancer import create_app

# The server runs no migrations: `flask db upgrade` (the flask CLI) does.
app = create_app(migrations=False)
