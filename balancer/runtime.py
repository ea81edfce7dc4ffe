"""Everything one process holds in memory to serve requests without the database.

``create_app`` builds one ``Runtime`` per process and keeps it in
``app.extensions["balancer"]``. The proxy reads it; the background loops
(``background.py``) fill it from the database and write its changes back.
"""
from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional

from balancer.config import Config
from balancer.crypto import SecretBox, owner_tag, token_hash
from balancer.keypool.pool import KeyPool
from balancer.keypool.records import PoolPolicy, Transition
from balancer.settings import PoolSettings, Settings, SettingsCache
from balancer.telemetry import metrics
from balancer.telemetry.buffer import Buffer
from balancer.telemetry.record import RequestRecord
from balancer.upstream.errors import UpstreamError, UpstreamUnreachable
from balancer.upstream.image_hosts import ImageHost
from balancer.upstream.proxies import ProxyChooser
from balancer.upstream.request_defaults import RequestDefaults
from balancer.upstream.session import Transport, UpstreamClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolInfo:
    """A pool as the proxy needs it."""

    id: int
    name: str
    kind: str
    base_url: str
    proxy_url: Optional[str]
    enabled: bool
    is_default: bool
    overrides: dict = field(default_factory=dict)
    #: alias -> upstream model name, served by this pool.
    aliases: dict = field(default_factory=dict)
    #: the upstream's model ids (without ``models/``), from the last refresh.
    models: tuple = ()
    #: several outgoing proxies, keys pinned to one each; empty: ``proxy_url``.
    proxies: tuple = ()
    #: options added to requests that leave them unset.
    defaults: RequestDefaults = field(default_factory=RequestDefaults)
    #: where generated images go instead of inline base64; None: they stay inline.
    image_host: Optional[ImageHost] = None

    @cached_property
    def metric_models(self) -> frozenset:
        """The model names this pool's metrics are labelled with: listed, aliases, targets."""
        return frozenset((*self.models, *self.aliases, *self.aliases.values()))


#: The owner of what callers without a token create (open access): they all share it.
ANONYMOUS_OWNER = "anonymous"


@dataclass(frozen=True)
class ClientInfo:
    """Who sent a request: a stored token (with id) or one from the environment."""

    id: Optional[int]
    name: str
    #: requests per minute, requests at once, model-name patterns, body size:
    #: None or empty for no limit (tokens from the environment have none).
    rpm: Optional[int] = None
    concurrent: Optional[int] = None
    models: tuple[str, ...] = ()
    max_bytes: Optional[int] = None
    #: what the files and caches this client creates are owned by (``crypto.owner_tag``
    #: of its token); every caller without a token shares ``ANONYMOUS_OWNER``.
    owner: str = ANONYMOUS_OWNER

    @property
    def limited(self) -> bool:
        """Whether any limit applies to this client."""
        return bool(self.rpm or self.concurrent or self.models or self.max_bytes)


@dataclass(frozen=True)
class Catalog:
    """Pools and client tokens, swapped whole when the sync loop reloads them."""

    pools: dict[int, PoolInfo] = field(default_factory=dict)
    #: sha256(token) -> client; env tokens included.
    clients: dict[str, ClientInfo] = field(default_factory=dict)

    def default_pool(self) -> Optional[PoolInfo]:
        """The pool that serves requests naming no other."""
        for pool in self.pools.values():
            if pool.is_default:
                return pool
        return next(iter(self.pools.values()), None)

    @property
    def limits_apply(self) -> bool:
        """Whether any client token carries a limit (else nothing is counted or shared)."""
        return any(client.limited for client in self.clients.values())

    @property
    def auth_required(self) -> bool:
        """Whether a token exists; without one, only loopback callers (or OPEN_ACCESS) are served."""
        return bool(self.clients)

    def client_owning(self, owner: str) -> Optional[ClientInfo]:
        """The client that is ``owner`` today, or None (its token was revoked or disabled)."""
        for client in self.clients.values():
            if client.owner == owner:
                return client
        return None

    def client_for(self, token: str) -> Optional[ClientInfo]:
        """The client a presented token belongs to, or None.

        Every stored hash is compared, in constant time, so the answer's timing
        says nothing about how close a guess came or which token matched.
        """
        digest = token_hash(token)
        match = None
        for stored, client in self.clients.items():
            if hmac.compare_digest(stored, digest):
                match = client
        return match


def env_clients(config: Config) -> dict[str, ClientInfo]:
    """Client tokens configured in the environment."""
    clients = {}
    for token in config.ALLOWED_TOKENS:
        digest = token_hash(token)
        clients[digest] = ClientInfo(None, f"env:…{token[-4:]}",
                                     owner=owner_tag(config.SECRET_KEY, digest))
    if config.MASTER_API_KEY:
        digest = token_hash(config.MASTER_API_KEY)
        clients[digest] = ClientInfo(None, "master", owner=owner_tag(config.SECRET_KEY, digest))
    return clients


class Runtime:
    """The process's key pool, settings, catalogs, buffers and HTTP client."""

    def __init__(self, config: Config, clock=None):
        import time
        self.config = config
        self.clock = clock or time.time
        self.box = SecretBox(config.SECRET_KEY, config.ENCRYPTION_KEY, config.ENCRYPTION_OLD_KEYS)
        self.settings = SettingsCache()
        self.catalog = Catalog(clients=env_clients(config))
        self.keypool = KeyPool(self.policy_for, clock=self.clock)
        # Bounded: while the database is away, the oldest records are dropped
        # (and counted) rather than memory growing without end.
        self.records: Buffer[RequestRecord] = Buffer(maxlen=config.TELEMETRY_BUFFER_RECORDS)
        self.transitions: Buffer[Transition] = Buffer(maxlen=200_000)
        #: the one way out to upstreams; tests may put a ``MockTransport`` here.
        self.upstream: Transport = UpstreamClient()
        self.proxy_chooser = ProxyChooser(self.clock)
        #: True once keys, settings and catalogs were loaded from the database.
        self.loaded = False
        self.services = None  # set by background.Services
        #: set when a key changes state: the flusher writes it without waiting.
        self.state_changed = threading.Event()
        #: set when a pool may need its model list now (it got its first usable key):
        #: the models round runs without waiting for its interval.
        self.models_wanted = threading.Event()
        #: which key owns each file and cached content (services/owners.OwnerIndex),
        #: set by create_app: it reads the database, which this module does not.
        self.owners = None
        #: per-client-token limits (proxy/limits.ClientLimiter), set by create_app.
        self.limits = None
        #: failed client-token checks per address (proxy/auth_failures.FailureLimiter),
        #: set by create_app.
        self.auth_failures = None
        #: the bodies this process may be reading at once (proxy/body.BodySlots), ditto.
        self.body_slots = None
        #: pool id -> (the settings and the overrides it was built from, the result).
        self._pool_settings: dict[int, tuple[Settings, Optional[dict], PoolSettings]] = {}

    def pool_settings(self, pool: Optional[PoolInfo]) -> PoolSettings:
        """The settings in force for a pool (None: the global ones).

        Settings snapshots and pool records are swapped whole when they change,
        so a cached merge stays right for as long as both are the same objects.
        """
        current = self.settings.current
        overrides = pool.overrides if pool is not None else None
        pool_id = pool.id if pool is not None else 0
        cached = self._pool_settings.get(pool_id)
        if cached is not None and cached[0] is current and cached[1] is overrides:
            return cached[2]
        built = current.for_pool(overrides)
        self._pool_settings[pool_id] = (current, overrides, built)
        return built

    def policy_for(self, pool_id: int) -> PoolPolicy:
        """The key-pool policy of a pool: settings plus the pool's overrides."""
        return self.pool_settings(self.catalog.pools.get(pool_id)).policy

    def proxy_for(self, pool: PoolInfo, key_id: int) -> Optional[str]:
        """The outgoing proxy of one key of a pool (None: a direct connection)."""
        if pool.proxies:
            return self.proxy_chooser.choose(pool.proxies, key_id)
        return pool.proxy_url

    def proxy_failed(self, proxy: Optional[str], err: UpstreamError) -> None:
        """Pass over a proxy that could not be reached (the key is not to blame)."""
        if proxy and isinstance(err, UpstreamUnreachable) and err.kind == "proxy":
            self.proxy_chooser.failed(proxy)

    def push(self, transitions: list[Transition]) -> None:
        """Queue transitions for the database (written within a second)."""
        if transitions:
            self.transitions.extend(transitions)
            metrics.transitions(transitions)
            self.state_changed.set()
