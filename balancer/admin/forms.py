"""WTForms of the admin UI, one class per form; each field has a label."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, HiddenField, IntegerField, PasswordField, SelectField,
                     StringField, SubmitField, TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class LoginForm(FlaskForm):
    """The admin password."""

    password = PasswordField("Admin password", validators=[DataRequired("Enter the password.")])
    next = HiddenField()
    submit = SubmitField("Sign in")


class AddKeysForm(FlaskForm):
    """Keys pasted as any text: found by pattern, de-duplicated."""

    text = TextAreaField("Paste keys", validators=[DataRequired("Paste some text with keys in it.")],
                         description="Any text: one key a line, a list, a .env file, a log... "
                                     "Keys are found by their pattern.",
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
                     description="Our JSON export with the keys revealed, or any text file.")
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
