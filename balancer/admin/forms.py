"""WTForms of the admin UI, one class per form; each field has a label."""
from __future__ import annotations

from typing import Sequence

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, HiddenField, IntegerField, PasswordField, SelectField,
                     StringField, SubmitField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (DataRequired, InputRequired, Length, NumberRange, Optional,
                                ValidationError)

from balancer.settings import SPEC_BY_NAME, SPECS, SettingError, SettingSpec


class LoginForm(FlaskForm):
    """The admin password."""

    password = PasswordField("Admin password", validators=[DataRequired("Enter the password.")])
    next = HiddenField()
    submit = SubmitField("Sign in")


class AddKeysForm(FlaskForm):
    """Keys pasted as any text, read by the pool kind's rules (keyshapes), de-duplicated."""

    text = TextAreaField("Paste keys", validators=[DataRequired("Paste some text with keys in it.")],
                         description="Gemini pools: any text (one key a line, a .env file, a "
                                     "log...); standard (AIza…) and auth (AQ.…) keys are found "
                                     "in it, and a line holding only a key of another shape is "
                                     "added with a warning. OpenAI-compatible pools: one key a "
                                     "line or separated by spaces.",
                         render_kw={"rows": 5, "spellcheck": "false", "autocomplete": "off"})
    pool = SelectField("Pool", coerce=int)
    label = StringField("Label", validators=[Optional(), Length(max=128)],
                        description="Optional, shown beside each of these keys.")
    group = StringField("Quota group", validators=[Optional(), Length(max=128)],
                        description="Optional Google project: a rate limit on one key cools the group.")
    submit = SubmitField("Add keys")


class ImportKeysForm(FlaskForm):
    """A JSON export (or any text file) with keys."""

    file = FileField("Key file", validators=[FileRequired("Choose a file.")],
                     description="Our JSON export with the keys revealed, or any text file "
                                 "(read as a paste is).")
    pool = SelectField("Pool", coerce=int)
    submit = SubmitField("Import")


class EditKeyForm(FlaskForm):
    """What an operator may change on a key (the key itself never)."""

    label = StringField("Label", validators=[Optional(), Length(max=128)])
    group = StringField("Quota group", validators=[Optional(), Length(max=128)],
                        description="Keys of one Google project share its quota: a rate limit on "
                                    "one cools the others for that model.")
    tags = StringField("Tags", validators=[Optional(), Length(max=1500)],
                       description="Separated by commas or spaces.")
    rpm_limit = IntegerField("Requests per minute limit",
                             validators=[Optional(), NumberRange(1, 10_000_000)],
                             description="Empty for none.")
    rpd_limit = IntegerField("Requests per day limit",
                             validators=[Optional(), NumberRange(1, 10_000_000)],
                             description="Empty for none.")
    submit = SubmitField("Save")


class ExportKeysForm(FlaskForm):
    """Export with the keys themselves (a POST, so a link cannot trigger it)."""

    submit = SubmitField("Export with the keys revealed")


# --- settings: one field per runtime setting, built from balancer.settings.SPECS ---------

#: Sections of the settings page; a setting not listed lands in "Other".
SETTING_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Choosing a key", ("strategy", "requests_per_key")),
    ("Retries", ("max_retries", "max_key_failovers", "retry_backoff_seconds")),
    ("Failures and ejection", ("max_failures", "ejection_base_seconds", "ejection_max_seconds")),
    ("Cooldowns after rate limits", ("cooldown_default_seconds", "cooldown_margin_seconds",
                                     "cooldown_unknown_seconds", "cooldown_unknown_max_seconds",
                                     "cooldown_no_access_seconds")),
    ("Upstream timeouts", ("connect_timeout_seconds", "read_timeout_seconds")),
    ("Streams", ("stream_keepalive_seconds", "fake_stream")),
    ("Background work", ("recovery_interval_seconds", "sync_interval_seconds",
                         "models_refresh_seconds")),
    ("OpenAI clients on Gemini pools", ("openai_api",)),
    ("Stored Responses-API responses", ("responses_ttl_hours",)),
    ("Model name suffixes", ("suffix_search", "suffix_image", "suffix_non_thinking")),
    ("Request log", ("log_requests",)),
)


def setting_label(name: str) -> str:
    """max_failures -> "Max failures"; seconds spelled as a unit."""
    words = name.replace("_seconds", "").replace("_", " ")
    label = words[:1].upper() + words[1:]
    return f"{label} (seconds)" if name.endswith("_seconds") else label


def _spec_check(spec: SettingSpec):
    """A WTForms validator that asks the setting's own spec (one source of truth)."""
    def check(form, field) -> None:
        try:
            field.coerced = spec.coerce(field.data)
        except SettingError as exc:
            raise ValidationError(str(exc).split(": ", 1)[-1]) from None
    return check


def settings_form_class(specs: Sequence[SettingSpec] = SPECS) -> type[FlaskForm]:
    """A form class with a field per setting, named as the setting."""

    class SettingsForm(FlaskForm):
        submit = SubmitField("Save settings")

    for spec in specs:
        label = setting_label(spec.name)
        if spec.kind is bool:
            field = BooleanField(label, description=spec.help)
        elif spec.choices:
            field = SelectField(label, choices=[SelectChoice(c) for c in spec.choices],
                                description=spec.help, validators=[_spec_check(spec)])
        else:
            attrs = {"type": "number", "step": "1" if spec.kind is int else "any",
                     "inputmode": "numeric" if spec.kind is int else "decimal"}
            if spec.low is not None:
                attrs["min"] = spec.low
            if spec.high is not None:
                attrs["max"] = spec.high
            field = StringField(label, description=spec.help, render_kw=attrs,
                                validators=[InputRequired("Enter a value."), _spec_check(spec)])
        setattr(SettingsForm, spec.name, field)
    return SettingsForm


class CreateTokenForm(FlaskForm):
    """A new client token, named for who uses it."""

    name = StringField("Name", validators=[DataRequired("Give the token a name."), Length(max=128)],
                       description="Who or what uses it, e.g. \"chat app\" or \"alice laptop\".")
    submit = SubmitField("Create token")


class RenameTokenForm(FlaskForm):
    """Another name for a token."""

    name = StringField("New name", validators=[DataRequired("Give the token a name."),
                                               Length(max=128)])
    submit = SubmitField("Rename")


class PoolForm(FlaskForm):
    """A pool: one provider endpoint, its way out, its key strategy and overrides."""

    name = StringField("Name", validators=[DataRequired("Give the pool a name."), Length(max=64)],
                       description="Lower-case letters, digits, - and _; clients reach its models "
                                   "as NAME/model.")
    kind = SelectField("Kind", choices=[SelectChoice("gemini", "gemini (Google's API)"),
                                        SelectChoice("openai", "openai (any OpenAI-compatible API)"),
                                        SelectChoice("vertex_express",
                                                     "vertex_express (Vertex AI express-mode keys)")])
    base_url = StringField("Base URL", validators=[Optional(), Length(max=512)],
                           description="Required for openai pools, e.g. https://api.groq.com/openai/v1. "
                                       "Empty for gemini: GEMINI_BASE_URL; for vertex_express: "
                                       "https://aiplatform.googleapis.com.",
                           render_kw={"inputmode": "url", "spellcheck": "false"})
    proxy_url = StringField("Outgoing proxy", validators=[Optional(), Length(max=512)],
                            description="http://, https://, socks5:// or socks5h://host:port; "
                                        "empty: PROXY_URL from the environment.",
                            render_kw={"spellcheck": "false"})
    proxies = TextAreaField("Several outgoing proxies", validators=[Optional(), Length(max=20_000)],
                            description="One a line; each key is pinned to one of them. "
                                        "Replaces the proxy above.",
                            render_kw={"rows": 3, "spellcheck": "false"})
    enabled = BooleanField("Enabled", default=True)
    strategy = SelectField("Key strategy", choices=[SelectChoice("", "as in Settings")] + [
        SelectChoice(c) for c in SPEC_BY_NAME["strategy"].choices])
    openai_api = SelectField("OpenAI clients (gemini pools)", choices=[
        SelectChoice("", "as in Settings"),
        SelectChoice("native", "native: translated to Gemini's own API (every key kind)"),
        SelectChoice("compat", "compat: Google's OpenAI layer, as sent (no auth keys)")],
        default="", description="How OpenAI-format requests reach this pool's upstream.")
    fake_stream = SelectField("Streams", choices=[
        SelectChoice("", "as in Settings"),
        SelectChoice("false", "real: relayed as the upstream streams them"),
        SelectChoice("true", "fake: the whole answer asked for, then sent as a stream")],
        default="", description="Fake streams suit upstreams whose streams break under load: "
                                "keep-alives while the answer is awaited, and another key may "
                                "still answer until it has come.")
    overrides = TextAreaField("Setting overrides", validators=[Optional(), Length(max=5000)],
                              description="NAME=VALUE, one a line, e.g. max_failures=5; names as on "
                                          "the Settings page.",
                              render_kw={"rows": 3, "spellcheck": "false"})
    aliases = TextAreaField("Model aliases", validators=[Optional(), Length(max=20_000)],
                            description="ALIAS=MODEL, one a line, e.g. fast=llama-3.1-8b-instant.",
                            render_kw={"rows": 3, "spellcheck": "false"})
    image_host = SelectField("Image host", choices=[
        SelectChoice("", "off: generated images stay inline"),
        SelectChoice("smms", "SM.MS"), SelectChoice("picgo", "PicGo server"),
        SelectChoice("imgbed", "CloudFlare ImgBed-style site")], default="",
        description="Uploads generated images and answers OpenAI clients with their links "
                    "(images/generations asked as url, chat answers with images).")
    image_host_url = StringField("Image host URL", validators=[Optional(), Length(max=512)],
                                 description="Empty: https://sm.ms/api/v2 (SM.MS), "
                                             "http://127.0.0.1:36677 (PicGo); required for ImgBed.",
                                 render_kw={"inputmode": "url", "spellcheck": "false"})
    image_host_token = PasswordField("Image host token", validators=[Optional(), Length(max=512)],
                                     description="Stored encrypted, never shown; empty keeps the "
                                                 "one stored.",
                                     render_kw={"autocomplete": "new-password"})
    submit = SubmitField("Save pool")


def parse_pairs(text: Optional[str], what: str) -> dict[str, str]:
    """NAME=VALUE lines as a dict; raises ValueError naming the bad line."""
    out: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"line {number}: expected {what}")
        out[name.strip()] = value.strip()
    return out


class BulkEditKeysForm(FlaskForm):
    """The same fields for several keys; only those switched on are changed."""

    set_label = BooleanField("Change the label")
    label = StringField("Label", validators=[Optional(), Length(max=128)])
    set_group = BooleanField("Change the quota group")
    group = StringField("Quota group", validators=[Optional(), Length(max=128)])
    set_tags = BooleanField("Change the tags")
    tags = StringField("Tags", validators=[Optional(), Length(max=1500)],
                       description="Separated by commas or spaces; replaces the keys' tags.")
    set_rpm_limit = BooleanField("Change the requests per minute limit")
    rpm_limit = IntegerField("Requests per minute limit",
                             validators=[Optional(), NumberRange(1, 10_000_000)],
                             description="Empty for none.")
    set_rpd_limit = BooleanField("Change the requests per day limit")
    rpd_limit = IntegerField("Requests per day limit",
                             validators=[Optional(), NumberRange(1, 10_000_000)],
                             description="Empty for none.")
    submit = SubmitField("Save for the selected keys")

    def changes(self) -> dict:
        """Field name -> value, for the fields switched on (an empty value clears)."""
        out = {}
        for name in ("label", "group", "tags", "rpm_limit", "rpd_limit"):
            if getattr(self, f"set_{name}").data:
                out[name] = getattr(self, name).data
        return out
