"""SQLAlchemy models, one module per area."""
from balancer.models.client import ClientToken, ClientUsage
from balancer.models.key import ApiKey, KeyModelState
from balancer.models.log import KeyEvent, RequestLog, UsageBucket
from balancer.models.owner import ResourceOwner
from balancer.models.pool import Pool
from balancer.models.setting import Setting

__all__ = ["ApiKey", "ClientToken", "ClientUsage", "KeyEvent", "KeyModelState", "Pool", "RequestLog",
           "ResourceOwner", "Setting", "UsageBucket"]
