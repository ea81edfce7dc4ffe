"""WTForms of the playground: the chat form, and the same form saved under a name."""
from __future__ import annotations

from typing import Mapping, Sequence

from flask_wtf import FlaskForm
from wtforms import (BooleanField, FloatField, IntegerField, SelectField, StringField,
                     SubmitField, TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, \
    ValidationError

from balancer.services import prompts as prompt_service

TEMPERATURE_RANGE = (0.0, 2.0)
MAX_TOKENS_RANGE = (1, 65536)
#: Generous, but bounded: a pasted book belongs in a client, not in a form.
SYSTEM_MAX = 20_000
MESSAGE_MAX = 100_000


class PlaygroundForm(FlaskForm):
    """One chat to try: pool, model, prompts and sampling options.

    ``models`` maps each pool a chat may go to onto the model names it offers;
    pool and model must be among them, so the page's selects are the only source.
    """

    pool = SelectField("Pool", validate_choice=False)
    model = SelectField("Model", validate_choice=False)
    system = TextAreaField("System prompt", validators=[Optional(), Length(max=SYSTEM_MAX)],
                           render_kw={"rows": 2})
    message = TextAreaField("Message", validators=[DataRequired("Write a message to send."),
                                                   Length(max=MESSAGE_MAX)],
                            render_kw={"rows": 4})
    temperature = FloatField("Temperature", default=1.0, validators=[
        InputRequired("Give a temperature from 0 to 2."),
        NumberRange(*TEMPERATURE_RANGE, message="The temperature goes from 0 to 2.")],
        render_kw={"step": "0.1", "min": "0", "max": "2", "inputmode": "decimal"})
    max_tokens = IntegerField("Max tokens", default=1024, validators=[
        InputRequired("Give a number of tokens from 1 to 65536."),
        NumberRange(*MAX_TOKENS_RANGE, message="Max tokens goes from 1 to 65536.")],
        render_kw={"min": "1", "max": "65536", "inputmode": "numeric"})
    stream = BooleanField("Stream the answer", default=True)

    def __init__(self, models: Mapping[str, Sequence[str]], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.models = models
        self.pool.choices = [(name, name) for name in models]
        if not self.pool.data and models:
            self.pool.data = next(iter(models))
        offered = list(models.get(self.pool.data) or ())
        if self.model.data and self.model.data not in offered:
            # Kept visible (a saved prompt's model the pool no longer lists) so that
            # the error beside it makes sense.
            offered.append(self.model.data)
        self.model.choices = [(name, name) for name in offered]

    def validate_pool(self, field: SelectField) -> None:
        """A pool that is on and known to this process."""
        if not field.data or field.data not in self.models:
            raise ValidationError(f"No enabled pool is named “{field.data or ''}”.")

    def validate_model(self, field: SelectField) -> None:
        """A model the chosen pool lists (or an alias of it)."""
        if not field.data:
            raise ValidationError("Choose a model.")
        if self.pool.data not in self.models:
            return
        offered = self.models[self.pool.data]
        if not offered:
            raise ValidationError(f"Pool “{self.pool.data}” has no model list yet: refresh it on "
                                  "the Pools page.")
        if field.data not in offered:
            raise ValidationError(f"Pool “{self.pool.data}” lists no model “{field.data}”.")

    def fields(self) -> prompt_service.PromptFields:
        """The form's values for the saved-prompt service."""
        return prompt_service.PromptFields(
            pool=self.pool.data, model=self.model.data, system=self.system.data or None,
            message=self.message.data or "", temperature=self.temperature.data,
            max_tokens=self.max_tokens.data, stream=bool(self.stream.data))


class SavePromptForm(PlaygroundForm):
    """The playground's form under a name; the message may still be empty."""

    message = TextAreaField("Message", validators=[Optional(), Length(max=MESSAGE_MAX)],
                            render_kw={"rows": 4})
    name = StringField("Save as", validators=[
        DataRequired("Give the prompt a name."),
        Length(max=prompt_service.NAME_MAX,
               message=f"A name has at most {prompt_service.NAME_MAX} characters.")],
        description="A name to find this prompt again under “Saved prompts”.",
        render_kw={"autocomplete": "off", "maxlength": str(prompt_service.NAME_MAX)})
    save = SubmitField("Save prompt")

    def validate_name(self, field: StringField) -> None:
        """Names are unique: saving never overwrites another prompt."""
        field.data = (field.data or "").strip()
        if field.data and prompt_service.name_taken(field.data):
            raise ValidationError(f"A saved prompt named “{field.data}” exists already.")
