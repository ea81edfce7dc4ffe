"""WTForms of the logs pages: GET filter forms (the query string is the filter) and the
clean-up form."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional as Opt

from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateTimeLocalField, IntegerField, SearchField, SelectField,
                     StringField, SubmitField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from balancer.services.request_log import KEY_EVENTS, PAGE_SIZES

#: outcome classes as the request log stores them.
OUTCOMES = (("", "Any"), ("success", "Success"), ("client_error", "Client error"),
            ("rate_limited", "Rate limited"), ("upstream_error", "Upstream error"),
            ("no_key", "No usable key"), ("client_gone", "Client went away"))
#: what the manual clean-up may delete (the retention service's kinds).
CLEAN_UP_KINDS = (("request_logs", "Request log"), ("key_events", "Key events"),
                  ("audit", "Admin audit trail"), ("usage", "Usage counts (statistics)"))


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class FilterForm(FlaskForm):
    """Read from the query string, no CSRF: a filtered view is a link anyone can share."""

    class Meta:
        csrf = False

    since = DateTimeLocalField("From (UTC)", validators=[Optional()])
    until = DateTimeLocalField("To (UTC)", validators=[Optional()])
    per_page = SelectField("Per page", choices=choices((str(n), str(n)) for n in PAGE_SIZES),
                           default="50", validators=[Optional()])

    def time(self, name: str) -> Opt[datetime]:
        """A datetime-local field as aware UTC (the page says the times are UTC)."""
        value = getattr(self, name).data
        return value.replace(tzinfo=timezone.utc) if value else None

    def size(self) -> int:
        """Rows per page (a value not offered falls back to 50)."""
        return int(self.per_page.data) if self.per_page.data in {str(n) for n in PAGE_SIZES} else 50


class RequestLogFilterForm(FilterForm):
    """Filters of the request log."""

    q = SearchField("Error text", validators=[Optional(), Length(max=200)],
                    description="Any part of the error message, upper or lower case.")
    outcome = SelectField("Outcome", choices=choices(OUTCOMES), validators=[Optional()])
    key = IntegerField("Key id", validators=[Optional(), NumberRange(1)])
    model = StringField("Model", validators=[Optional(), Length(max=128)])
    # A deleted token or pool in a shared link filters to nothing rather than failing.
    client = SelectField("Client token", validators=[Optional()], validate_choice=False)
    pool = SelectField("Pool", validators=[Optional()], validate_choice=False)
    stream = SelectField("Stream", choices=choices((("", "Either"), ("yes", "Yes"), ("no", "No"))),
                         validators=[Optional()])
    status = IntegerField("Status", validators=[Optional(), NumberRange(100, 599)])


class KeyEventFilterForm(FilterForm):
    """Filters of the key events."""

    key = IntegerField("Key id", validators=[Optional(), NumberRange(1)])
    event = SelectField("Event", choices=choices([("", "Any")] + [(e, e) for e in KEY_EVENTS]),
                        validators=[Optional()])


class AuditFilterForm(FilterForm):
    """Filters of the audit trail."""

    action = SelectField("Action", validators=[Optional()])


class CleanUpForm(FlaskForm):
    """Delete one kind of log older than some days, now."""

    kind = SelectField("Log", choices=choices(CLEAN_UP_KINDS), validators=[InputRequired()])
    days = IntegerField("Older than (days)", default=30,
                        validators=[InputRequired("How many days to keep."), NumberRange(0, 3650)],
                        description="0 deletes every row up to now.")
    confirm = BooleanField("Yes, delete these rows for good",
                           validators=[DataRequired("Tick the box to confirm.")])
    submit = SubmitField("Delete now")
