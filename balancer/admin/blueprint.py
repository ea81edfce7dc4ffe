"""The admin blueprint object, apart from its views so that every view module can import it.

The guard and the security headers are bound here, at the blueprint's birth:
every endpoint added to it later is covered without a decorator of its own.
"""
from flask import Blueprint

from balancer.admin import access

bp = Blueprint("admin", __name__)
bp.before_request(access.require_admin)
bp.after_request(access.security_headers)
