"""Process configuration from the environment (and ``.env``).

Every variable is listed in ``.env.example``. A bad value stops start-up with a
``ConfigError`` that names the variable. Runtime settings that an operator
changes while Balancer runs live in the database instead (``settings.py``).
"""
from __future__ import annotations

import base64
import ipaddress
import logging
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlsplit

from dotenv import load_dotenv

from balancer import keyshapes
from balancer.engine_options import engine_options, under_gevent

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

log = logging.getLogger(__name__)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
#: Shortest ADMIN_PASSWORD accepted: the sign-in throttle slows guessing, a long password stops it.
MIN_ADMIN_PASSWORD = 12
#: Peers whose X-Forwarded-* headers are believed when PROXY_HOPS is set: loopback and the
#: private networks, where a platform's router (Heroku) or a local nginx connects from.
DEFAULT_PROXY_ADDRESSES = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


class ConfigError(RuntimeError):
    """A configuration variable has a value Balancer cannot use."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"{name}: {problem}")
        self.name = name


def parse_bool(name: str, raw: Optional[str], default: bool) -> bool:
    """Read a yes/no variable; junk is an error rather than a silent default."""
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"expected true or false, got {raw!r}")


def parse_int(name: str, raw: Optional[str], default: int, low: int, high: int) -> int:
    """Read a bounded integer variable."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def split_list(raw: Optional[str]) -> list[str]:
    """Split a comma- or whitespace-separated list, dropping empties."""
    if not raw:
        return []
    return [part for part in re.split(r"[\s,]+", raw.strip()) if part]


def parse_url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    """Check that a URL has one of the given schemes and a host."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(name, f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return raw.strip().rstrip("/")


def parse_database_url(raw: Optional[str]) -> str:
    """Accept SQLite, PostgreSQL (psycopg 3) and MySQL/MariaDB (PyMySQL) URLs."""
    if not raw:
        INSTANCE.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE / 'balancer.db'}"
    url = raw.strip()
    # Platforms hand out postgres:// URLs; SQLAlchemy wants an explicit driver.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("mysql://") or url.startswith("mariadb://"):
        url = "mysql+pymysql://" + url.split("://", 1)[1]
    if not url.startswith(("sqlite://", "postgresql+psycopg://", "mysql+pymysql://")):
        raise ConfigError(
            "DATABASE_URL",
            "expected sqlite:///PATH, postgresql+psycopg://... or mysql+pymysql://...",
        )
    return url


def parse_gemini_keys(raw: Optional[str]) -> list[str]:
    """Keys from GEMINI_API_KEYS, de-duplicated, order kept.

    Standard (``AIza…``) and auth (``AQ.…``) keys are taken; a plausible key of
    another shape is taken with a warning; anything else stops start-up.
    """
    keys: list[str] = []
    entries = [item for item in split_list(raw) if keyshapes.clean(item)]
    for number, item in enumerate(entries, 1):
        try:
            checked = keyshapes.check_key(item, keyshapes.GEMINI)
        except keyshapes.MalformedKey as exc:
            # Never echo the value: it may be a real key with a typo.
            raise ConfigError("GEMINI_API_KEYS", f"entry {number} cannot be a key: {exc}") from None
        if not checked.known:
            log.warning("GEMINI_API_KEYS: entry %d %s", number,
                        keyshapes.unknown_shape_warning(keyshapes.GEMINI))
        if checked.key not in keys:
            keys.append(checked.key)
    return keys


def parse_networks(name: str, raw: Optional[str]) -> tuple:
    """Addresses or networks (``10.0.0.0/8``), comma separated; "" for none."""
    networks = []
    for item in split_list(raw):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(name, f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def parse_admin_password(raw: Optional[str]) -> Optional[str]:
    """ADMIN_PASSWORD, or None when unset; a short one stops start-up."""
    password = (raw or "").strip()
    if not password:
        return None
    if len(password) < MIN_ADMIN_PASSWORD:
        raise ConfigError("ADMIN_PASSWORD", f"must be at least {MIN_ADMIN_PASSWORD} characters "
                          f"(it has {len(password)}); a few words make a good one")
    return password


def parse_fernet_key(raw: Optional[str], name: str = "ENCRYPTION_KEY") -> Optional[str]:
    """An ENCRYPTION_KEY must be a Fernet key: 32 bytes, URL-safe base64."""
    if not raw or not raw.strip():
        return None
    try:
        if len(base64.urlsafe_b64decode(raw.strip().encode())) != 32:
            raise ValueError
    except ValueError:  # binascii.Error is one
        raise ConfigError(name, "expected a Fernet key (32 bytes, URL-safe base64); "
                          "make one with: python -c 'from cryptography.fernet import Fernet; "
                          "print(Fernet.generate_key().decode())'") from None
    return raw.strip()


def load_secret_key(raw: Optional[str], instance: Path) -> str:
    """Use SECRET_KEY, or one generated once and kept in instance/ (mode 0600)."""
    if raw and raw.strip():
        if len(raw.strip()) < 16:
            raise ConfigError("SECRET_KEY", "must be at least 16 characters")
        return raw.strip()
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two workers starting together must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


#: Host names that are always this machine: a page elsewhere cannot make a browser
#: send them, so they are trusted whatever TRUSTED_HOSTS says.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: HOST values that listen on every address rather than one.
ANY_ADDRESS = ("0.0.0.0", "::", "")


def parse_host(raw: Optional[str]) -> str:
    """The address Balancer listens on (gunicorn.conf.py binds it): loopback by default."""
    host = (raw or "").strip() or "127.0.0.1"
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def is_loopback_host(host: str) -> bool:
    """Whether a bind address (or name) reaches this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bare_host(name: str) -> str:
    """A host name or address without port or IPv6 brackets, lower case."""
    name = name.strip().lower().rstrip(".")
    if name.startswith("["):
        return name[1:].partition("]")[0]
    if name.count(":") == 1:  # name:port (an IPv6 address has several colons)
        return name.partition(":")[0]
    return name


def machine_names() -> frozenset:
    """This machine's host name, fully qualified name and addresses (looked up once)."""
    global _MACHINE_NAMES
    if _MACHINE_NAMES is None:
        names = set()
        try:
            hostname = socket.gethostname()
            names.update((hostname, socket.getfqdn()))
            names.update(str(info[4][0]) for info in socket.getaddrinfo(hostname, None))
        except OSError:
            pass
        # The address of the default route: what other machines usually call it by.
        # A UDP "connection" sends nothing; it only picks the outgoing address.
        for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as sock:
                    sock.connect((probe, 9))
                    names.add(sock.getsockname()[0])
            except OSError:
                pass
        _MACHINE_NAMES = frozenset(_bare_host(n) for n in names if n)
    return _MACHINE_NAMES


_MACHINE_NAMES: Optional[frozenset] = None


def parse_trusted_hosts(raw: Optional[str], host: str) -> Optional[frozenset]:
    """The Host header names Balancer answers (None: any, for ``*``).

    This machine's own names and addresses, loopback and the bound address are
    always in; TRUSTED_HOSTS adds the names clients reach it by (a public name
    behind a platform's router or a reverse proxy); ``.example.com`` stands for
    every name under example.com.
    """
    extra = split_list(raw)
    if "*" in extra:
        return None
    names = set(LOOPBACK_NAMES) | machine_names()
    if host not in ANY_ADDRESS:
        names.add(_bare_host(host))
    for item in extra:
        bare = item.strip().lower().rstrip(".")
        bare = bare if bare.startswith(".") else _bare_host(bare)
        if not re.fullmatch(r"\.?[a-z0-9_.:-]+", bare):
            raise ConfigError("TRUSTED_HOSTS", f"{item!r} is not a host name or address")
        names.add(bare)
    return frozenset(names)


class Config:
    """Flask config built from an environment mapping."""

    TESTING = False
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    JSON_SORT_KEYS = False

    def __init__(self, env: Optional[Mapping[str, str]] = None):
        if env is None:
            load_dotenv(ROOT / ".env")
            env = os.environ
        get = env.get
        self.INSTANCE_PATH = Path(get("BALANCER_INSTANCE_PATH") or INSTANCE)
        self.SECRET_KEY = load_secret_key(get("SECRET_KEY"), self.INSTANCE_PATH)
        self.ENCRYPTION_KEY = parse_fernet_key(get("ENCRYPTION_KEY"))
        self.ENCRYPTION_OLD_KEYS = tuple(
            parse_fernet_key(item, "ENCRYPTION_OLD_KEYS")
            for item in split_list(get("ENCRYPTION_OLD_KEYS")))
        self.ADMIN_PASSWORD = parse_admin_password(get("ADMIN_PASSWORD"))
        self.SQLALCHEMY_DATABASE_URI = parse_database_url(get("DATABASE_URL"))
        self.GEMINI_API_KEYS = parse_gemini_keys(get("GEMINI_API_KEYS"))
        self.GEMINI_BASE_URL = parse_url(
            "GEMINI_BASE_URL",
            get("GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com",
            ("http", "https"),
        )
        self.ALLOWED_TOKENS = split_list(get("ALLOWED_TOKENS"))
        self.MASTER_API_KEY = (get("MASTER_API_KEY") or "").strip() or None
        proxy = (get("PROXY_URL") or "").strip()
        self.PROXY_URL = parse_url("PROXY_URL", proxy, _PROXY_SCHEMES) if proxy else None
        level = (get("LOG_LEVEL") or "INFO").strip().upper()
        if level not in _LOG_LEVELS:
            raise ConfigError("LOG_LEVEL", f"expected one of {', '.join(_LOG_LEVELS)}, got {level!r}")
        self.LOG_LEVEL = level
        # The body limit of every route but the uploads' (chat, generate, embeddings, admin).
        self.MAX_CONTENT_LENGTH = parse_int(
            "MAX_REQUEST_MB", get("MAX_REQUEST_MB"), 20, 1, 1024) * 1024 * 1024
        # One request of a resumable upload (the SDKs send 8 MiB chunks).
        self.MAX_UPLOAD_BYTES = parse_int(
            "MAX_UPLOAD_MB", get("MAX_UPLOAD_MB"), 64, 1, 2048) * 1024 * 1024
        # Bodies a worker reads at once: workers x this x the body limit bounds their memory.
        self.MAX_PARSING_REQUESTS = parse_int(
            "MAX_PARSING_REQUESTS", get("MAX_PARSING_REQUESTS"), 8, 1, 10_000)
        self.TELEMETRY_BUFFER_RECORDS = parse_int(
            "TELEMETRY_BUFFER_RECORDS", get("TELEMETRY_BUFFER_RECORDS"), 200_000, 100, 10_000_000)
        self.METRICS_TOKEN = (get("METRICS_TOKEN") or "").strip() or None
        self.METRICS_ALLOW = parse_networks(
            "METRICS_ALLOW", get("METRICS_ALLOW") if get("METRICS_ALLOW") is not None
            else "127.0.0.1/32,::1/128")
        self.PROXY_HOPS = parse_int("PROXY_HOPS", get("PROXY_HOPS"), 0, 0, 5)
        self.PROXY_ADDRESSES = parse_networks(
            "PROXY_ADDRESSES", get("PROXY_ADDRESSES") if get("PROXY_ADDRESSES") is not None
            else DEFAULT_PROXY_ADDRESSES)
        self.HOST = parse_host(get("HOST"))
        # Against DNS rebinding: a page elsewhere whose name points at this
        # machine sends its own name as Host, and is answered 400.
        self.BALANCER_TRUSTED_HOSTS = parse_trusted_hosts(get("TRUSTED_HOSTS"), self.HOST)
        self.TRUSTED_HOSTS_SET = bool(split_list(get("TRUSTED_HOSTS")))
        # With no client token, the proxy serves loopback callers only, unless this says otherwise.
        self.OPEN_ACCESS = parse_bool("OPEN_ACCESS", get("OPEN_ACCESS"), False)
        # The admin UI: off only on purpose (a banner says so on every page), and
        # only while nothing but this machine can reach it.
        self.REQUIRE_ADMIN_LOGIN = parse_bool(
            "REQUIRE_ADMIN_LOGIN", get("REQUIRE_ADMIN_LOGIN"), True)
        if not self.REQUIRE_ADMIN_LOGIN and not is_loopback_host(self.HOST):
            raise ConfigError(
                "REQUIRE_ADMIN_LOGIN", f"false is allowed only while Balancer listens on loopback "
                f"(HOST=127.0.0.1, ::1 or localhost), but HOST is {self.HOST!r}: anyone who can "
                "reach it could manage Balancer and its keys. Set ADMIN_PASSWORD instead.")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Behind HTTPS the session cookie must never travel over plain HTTP.
        self.SESSION_COOKIE_SECURE = parse_bool(
            "SESSION_COOKIE_SECURE", get("SESSION_COOKIE_SECURE"), False)
        # CSRF tokens live as long as the session: an admin page left open stays usable.
        self.WTF_CSRF_TIME_LIMIT = None
        # A database server that stops answering (a network partition, a host gone without
        # a reset) must not hold a worker's database work for ever.
        self.DATABASE_CONNECT_TIMEOUT = parse_int(
            "DATABASE_CONNECT_TIMEOUT", get("DATABASE_CONNECT_TIMEOUT"), 10, 1, 300)
        self.DATABASE_READ_TIMEOUT = parse_int(
            "DATABASE_READ_TIMEOUT", get("DATABASE_READ_TIMEOUT"), 120, 0, 86_400)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(
            self.SQLALCHEMY_DATABASE_URI, self.DATABASE_CONNECT_TIMEOUT,
            self.DATABASE_READ_TIMEOUT if under_gevent() else 0)

    def log_level(self) -> int:
        """The numeric logging level."""
        return getattr(logging, self.LOG_LEVEL)
