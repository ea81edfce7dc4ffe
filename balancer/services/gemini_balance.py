"""What a gemini-balance configuration becomes in Balancer: a plan, and a table of it.

gemini-balance (github.com/snailyp/gemini-balance) reads its settings from a
``.env`` file and keeps them in its database's ``t_settings`` table as strings
(lists and maps as JSON, booleans as ``true``/``false``). Both come here as one
mapping of name to string; ``plan`` says what each becomes: keys, client
tokens, outgoing proxies, runtime settings, request defaults of the default
pool, or nothing (with the reason). Pure: no database, no Flask, no files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from balancer.services.gemini_balance_values import (
    parse_bool, parse_list, parse_number, parse_object, shown)
from balancer.services.pool_checks import PoolError, check_proxies
from balancer.settings import SPEC_BY_NAME, SettingError
from balancer.upstream import request_defaults
from balancer.upstream.request_defaults import DefaultsError

#: the pool kind Vertex AI express-mode keys belong to.
VERTEX_KIND = "vertex_express"
VERTEX_POOL = "vertex"
GOOGLE_HOST = "generativelanguage.googleapis.com"

_DEFAULT_POOL = "the default pool's"
#: gemini-balance setting -> what it becomes here. The README's table says the same.
MAPPING: dict[str, str] = {
    "API_KEYS": "keys of the default pool (`gemini`)",
    "VERTEX_API_KEYS": f"keys of a `{VERTEX_KIND}` pool named `{VERTEX_POOL}` (made if missing)",
    "ALLOWED_TOKENS": "client tokens with the same values (clients keep theirs)",
    "AUTH_TOKEN": "a client token with the same value (gemini-balance lets clients use it too); "
                  "the admin UI has its own sign-in",
    "PROXIES": "outgoing proxies of the default pool",
    "PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY": "nothing to set: Balancer always pins each key "
                                               "to one of the pool's proxies",
    "BASE_URL": "base URL of the default pool, when it is not Google's",
    "MAX_FAILURES": "setting `max_failures` (the key then rests for that model a while, "
                    "not until the next check)",
    "MAX_RETRIES": "setting `max_retries`",
    "TIME_OUT": "setting `read_timeout_seconds`",
    "CHECK_INTERVAL_HOURS": "setting `recovery_interval_seconds` (hours × 3600)",
    "SEARCH_MODELS": "setting `suffix_search` (on when the list is not empty: every model "
                     "takes `-search`)",
    "IMAGE_MODELS": "setting `suffix_image` (on when the list is not empty: every model "
                    "takes `-image`)",
    "THINKING_MODELS": "setting `suffix_non_thinking` (on when the list is not empty: every "
                       "model takes `-non-thinking`)",
    "THINKING_BUDGET_MAP": f"`thinking_budgets` of {_DEFAULT_POOL} request defaults",
    "SAFETY_SETTINGS": f"`safety_settings` of {_DEFAULT_POOL} request defaults",
    "CUSTOM_HEADERS": f"`headers` of {_DEFAULT_POOL} request defaults",
    "AUTO_DELETE_REQUEST_LOGS_ENABLED": "setting `request_log_retention_days` (off: 0, keep all)",
    "AUTO_DELETE_REQUEST_LOGS_DAYS": "setting `request_log_retention_days`",
}

#: settings with no counterpart, and why (names ending in ``*`` cover a family).
NO_COUNTERPART: dict[str, str] = {
    "VERTEX_EXPRESS_BASE_URL": "Balancer calls Google's documented Vertex address",
    "TEST_MODEL": "Balancer checks keys with a cheap call of its own",
    "FILTERED_MODELS": "the model list is what the upstream lists",
    "URL_CONTEXT_*": "a client asks for the URL-context tool itself",
    "TOOLS_CODE_EXECUTION_ENABLED": "a client asks for code execution itself",
    "SHOW_SEARCH_LINK": "answers are passed on as the model gives them",
    "SHOW_THINKING_PROCESS": "answers are passed on as the model gives them",
    "AUTO_DELETE_ERROR_LOGS_*": "failed requests are request-log rows here "
                                "(`request_log_retention_days`)",
    "ERROR_LOG_RECORD_REQUEST_BODY": "the request log keeps no request bodies",
    "DATABASE_TYPE": "Balancer's own database is DATABASE_URL",
    "SQLITE_DATABASE": "Balancer's own database is DATABASE_URL",
    "MYSQL_*": "Balancer's own database is DATABASE_URL",
    "LOG_LEVEL": "LOG_LEVEL of Balancer's environment",
    "TIMEZONE": "Balancer works in UTC",
    "ADMIN_SESSION_EXPIRE": "the admin UI has its own sign-in",
    "GITHUB_*": "gemini-balance's update check",
    "URL_NORMALIZATION_ENABLED": "Balancer serves each API at its documented paths",
    "STREAM_*": "streams are passed on as they arrive",
    "FAKE_STREAM_*": "no fake streaming here",
    "TTS_*": "no speech defaults here",
    "PAID_KEY": "image generation uses the pool's keys",
    "CREATE_IMAGE_MODEL": "the client names the image model",
    "UPLOAD_PROVIDER": "no image hosting here",
    "SMMS_*": "no image hosting here",
    "PICGO_*": "no image hosting here",
    "CLOUDFLARE_IMGBED_*": "no image hosting here",
    "OSS_*": "no image hosting here",
    "FILES_*": "Files API calls go to Google as they are",
}


@dataclass(frozen=True)
class _Context:
    """What a setting's meaning may depend on: the other settings."""

    values: Mapping[str, str]


@dataclass(frozen=True)
class Row:
    """One line of the printed table (never a key or token: ``value`` is masked)."""

    setting: str
    value: str
    target: str


@dataclass
class Plan:
    """What an import writes; empty parts write nothing."""

    gemini_keys: list[str] = field(default_factory=list)
    vertex_keys: list[str] = field(default_factory=list)
    #: (name, value) of each client token to create.
    tokens: list[tuple[str, str]] = field(default_factory=list)
    proxies: list[str] = field(default_factory=list)
    base_url: Optional[str] = None
    #: runtime settings (``balancer/settings.py``), checked.
    settings: dict[str, Any] = field(default_factory=dict)
    #: parts of the default pool's request defaults (``upstream/request_defaults.py``).
    defaults: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)


def plan(values: Mapping[str, str]) -> Plan:
    """The import plan for gemini-balance's settings."""
    out = Plan()
    ctx = _Context(values)
    for name, raw in values.items():
        handler = _HANDLERS.get(name)
        if handler is None:
            out.rows.append(Row(name, shown(name, raw), _no_counterpart(name)))
            continue
        try:
            target = handler(out, raw, ctx)
        except (ValueError, SettingError, DefaultsError) as exc:
            target = f"not taken: {exc}"
        out.rows.append(Row(name, shown(name, raw), target))
    _tokens(out, values)
    return out


def table(rows: list[Row]) -> str:
    """The rows as aligned text."""
    head = Row("gemini-balance", "value", "Balancer")
    width = [max(len(getattr(r, f)) for r in [head, *rows]) for f in ("setting", "value")]
    width[1] = min(width[1], 40)
    lines = []
    for r in [head, *rows]:
        value = r.value if len(r.value) <= 40 else r.value[:39] + "…"
        lines.append(f"{r.setting:<{width[0]}}  {value:<{width[1]}}  {r.target}")
    return "\n".join(lines)


def _setting(out: Plan, name: str, value: Any) -> str:
    value = out.settings[name] = SPEC_BY_NAME[name].coerce(value)
    return f"setting `{name}` = {('on' if value else 'off') if isinstance(value, bool) else value}"


# --- what each setting becomes ----------------------------------------------------


def _api_keys(out: Plan, raw: str, ctx: _Context) -> str:
    out.gemini_keys = parse_list(raw)
    return f"{len(out.gemini_keys)} key(s) of the default pool (`gemini`)"


def _vertex_keys(out: Plan, raw: str, ctx: _Context) -> str:
    keys = parse_list(raw)
    out.vertex_keys = keys
    return f"{len(keys)} key(s) of the `{VERTEX_KIND}` pool `{VERTEX_POOL}`"


def _token_row(out: Plan, raw: str, ctx: _Context) -> str:
    # The tokens themselves are collected once both settings are read (``_tokens``).
    tokens = parse_list(raw)
    unusable = sum(1 for token in tokens if not _usable(token))
    return f"{len(tokens) - unusable} client token(s) with the same values (clients keep theirs)" \
        + (f"; {unusable} left out ({_UNUSABLE})" if unusable else "")


def _auth_token_row(out: Plan, raw: str, ctx: _Context) -> str:
    if not raw.strip():
        return "not set: nothing to take"
    if not _usable(raw.strip()):
        return f"not taken: {_UNUSABLE}"
    return MAPPING["AUTH_TOKEN"]


#: what a client token must be to be stored (``client_tokens.adopt_token`` checks it too).
_UNUSABLE = "a token is 1 to 512 characters without spaces"


def _usable(token: str) -> bool:
    return 0 < len(token) <= 512 and not any(c.isspace() or c == "\0" for c in token)


def _tokens(out: Plan, values: Mapping[str, str]) -> None:
    seen: set[str] = set()
    try:
        allowed = parse_list(values.get("ALLOWED_TOKENS", ""))
    except ValueError:
        allowed = []
    for n, token in enumerate(allowed, 1):
        if token not in seen and _usable(token):
            seen.add(token)
            out.tokens.append((f"gemini-balance token {n}", token))
    auth = values.get("AUTH_TOKEN", "").strip()
    if auth and auth not in seen and _usable(auth):
        out.tokens.append(("gemini-balance AUTH_TOKEN", auth))


def _proxies(out: Plan, raw: str, ctx: _Context) -> str:
    try:
        out.proxies = check_proxies(parse_list(raw))
    except PoolError as exc:
        raise ValueError(str(exc)) from None
    count = len(out.proxies)
    return f"{count} outgoing prox{'y' if count == 1 else 'ies'} of the default pool"


def _base_url(out: Plan, raw: str, ctx: _Context) -> str:
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if not url or parts.hostname == GOOGLE_HOST:
        return "nothing to set: Google's address is Balancer's default too"
    # gemini-balance's base URL ends in the API version; Balancer adds that itself.
    path = parts.path
    for version in ("/v1beta", "/v1"):
        if path.endswith(version):
            path = path[: -len(version)]
    out.base_url = urlunsplit(parts._replace(path=path))
    return f"base URL of the default pool = {out.base_url}"


def _max_failures(out: Plan, raw: str, ctx: _Context) -> str:
    return _setting(out, "max_failures", raw.strip())


def _max_retries(out: Plan, raw: str, ctx: _Context) -> str:
    return _setting(out, "max_retries", raw.strip())


def _time_out(out: Plan, raw: str, ctx: _Context) -> str:
    return _setting(out, "read_timeout_seconds", parse_number(raw))


def _check_interval(out: Plan, raw: str, ctx: _Context) -> str:
    return _setting(out, "recovery_interval_seconds", parse_number(raw) * 3600)


def _suffix(setting: str) -> Callable[[Plan, str, _Context], str]:
    def take(out: Plan, raw: str, ctx: _Context) -> str:
        return _setting(out, setting, bool(parse_list(raw)))
    return take


def _budgets(out: Plan, raw: str, ctx: _Context) -> str:
    parsed = parse_object(raw) or {}
    if not isinstance(parsed, dict):
        raise ValueError("expected a JSON object of model: budget")
    budgets = {}
    for model, budget in parsed.items():
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) \
                or not float(budget).is_integer():
            raise ValueError(f"thinking budget for {model}: expected a whole number")
        budgets[model] = int(budget)
    out.defaults["thinking_budgets"] = request_defaults.parse(
        {"thinking_budgets": budgets}).thinking_budgets
    return f"`thinking_budgets` of {_DEFAULT_POOL} request defaults ({len(budgets)} model(s))"


def _safety(out: Plan, raw: str, ctx: _Context) -> str:
    parsed = parse_object(raw) or []
    out.defaults["safety_settings"] = [
        dict(s) for s in request_defaults.parse({"safety_settings": parsed}).safety_settings]
    return f"`safety_settings` of {_DEFAULT_POOL} request defaults"


def _headers(out: Plan, raw: str, ctx: _Context) -> str:
    parsed = parse_object(raw) or {}
    out.defaults["headers"] = dict(request_defaults.parse({"headers": parsed}).headers)
    return f"`headers` of {_DEFAULT_POOL} request defaults ({len(parsed)} header(s))"


def _request_logs(out: Plan, raw: str, ctx: _Context) -> str:
    if parse_bool(raw):
        # How many days: AUTO_DELETE_REQUEST_LOGS_DAYS (gemini-balance's default 30).
        days = ctx.values.get("AUTO_DELETE_REQUEST_LOGS_DAYS", "30").strip() or "30"
        return _setting(out, "request_log_retention_days", days)
    return _setting(out, "request_log_retention_days", 0) + " (keep all)"


def _request_log_days(out: Plan, raw: str, ctx: _Context) -> str:
    if not parse_bool(ctx.values.get("AUTO_DELETE_REQUEST_LOGS_ENABLED", "false")):
        return "not taken: AUTO_DELETE_REQUEST_LOGS_ENABLED is off"
    return "with AUTO_DELETE_REQUEST_LOGS_ENABLED"


_HANDLERS: dict[str, Callable[[Plan, str, _Context], str]] = {
    "API_KEYS": _api_keys,
    "VERTEX_API_KEYS": _vertex_keys,
    "ALLOWED_TOKENS": _token_row,
    "AUTH_TOKEN": _auth_token_row,
    "PROXIES": _proxies,
    "PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY": lambda out, raw, ctx: MAPPING[
        "PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY"],
    "BASE_URL": _base_url,
    "MAX_FAILURES": _max_failures,
    "MAX_RETRIES": _max_retries,
    "TIME_OUT": _time_out,
    "CHECK_INTERVAL_HOURS": _check_interval,
    "SEARCH_MODELS": _suffix("suffix_search"),
    "IMAGE_MODELS": _suffix("suffix_image"),
    "THINKING_MODELS": _suffix("suffix_non_thinking"),
    "THINKING_BUDGET_MAP": _budgets,
    "SAFETY_SETTINGS": _safety,
    "CUSTOM_HEADERS": _headers,
    "AUTO_DELETE_REQUEST_LOGS_ENABLED": _request_logs,
    "AUTO_DELETE_REQUEST_LOGS_DAYS": _request_log_days,
}


def _no_counterpart(name: str) -> str:
    for pattern, reason in NO_COUNTERPART.items():
        if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
            return f"no counterpart: {reason}"
    return "no counterpart: not a gemini-balance setting Balancer knows"
