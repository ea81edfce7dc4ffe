"""SQLAlchemy models, one module per area."""
from balancer.models.audit import AuditEvent
from balancer.models.client import ClientToken, ClientUsage, KeyUsage
from balancer.models.key import ApiKey, KeyModelState
from balancer.models.log import KeyEvent, RequestLog, UsageBucket
from balancer.models.owner import ResourceOwner
from balancer.models.pool import Pool
from balancer.models.prompt import SavedPrompt
from balancer.models.rollup import UsageDay, UsageHistogram, UsageHour
from balancer.models.setting import Setting
from balancer.models.signin import AdminSession, SigninFailure
from balancer.models.stored_response import StoredResponse

__all__ = ["AdminSession", "ApiKey", "AuditEvent", "ClientToken", "ClientUsage", "KeyEvent", "KeyModelState", "KeyUsage", "Pool", "RequestLog",
           "ResourceOwner", "SavedPrompt", "Setting", "SigninFailure", "StoredResponse", "UsageBucket",
           "UsageDay", "UsageHistogram", "UsageHour"]
