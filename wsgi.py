"""WSGI entry point for gunicorn (see gunicorn.conf.py)."""
from balancer import create_app

app = create_app()
