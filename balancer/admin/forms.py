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

