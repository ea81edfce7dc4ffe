"""JSON for the dashboard's live numbers and charts (login-guarded like the admin UI)."""
from balancer.stats.routes import bp

__all__ = ["bp"]
