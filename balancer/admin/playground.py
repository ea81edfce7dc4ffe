"""The playground: try a pool's model from the browser, through the same proxy path as clients.

A chat from the page goes to ``proxy.chat.serve_chat`` as the client named
"playground": the same key choice, attempt loop, retries, health accounting,
request log row and usage buckets as ``POST /v1/chat/completions``. The
proxy's answer, streamed or not, is returned unchanged, with one header more:
the masked form of the key that served it.
"""
from __future__ import annotations

import json
from typing import Optional
from urllib.parse import quote

from flask import Response, abort, current_app, flash, jsonify, redirect, render_template, \
    request, url_for
from werkzeug.datastructures import MultiDict

from balancer.admin.blueprint import bp
from balancer.admin.playground_forms import PlaygroundForm, SavePromptForm
from balancer.proxy import suffixes
from balancer.proxy.chat import serve_chat
from balancer.proxy.routing import route_model
from balancer.proxy.validate import BadRequest
from balancer.runtime import ClientInfo, PoolInfo, Runtime
from balancer.services import keys as key_service
from balancer.services import prompts as prompt_service
from balancer.upstream.providers import speaks_gemini

#: The admin is the client: no token, no limits, its own name in the request log.
PLAYGROUND = ClientInfo(None, "playground")

#: Header with the masked key (``AIza…9xQ``, percent-encoded UTF-8) beside the proxy's
#: ``x-balancer-key`` id.
KEY_DISPLAY_HEADER = "x-balancer-key-display"


def _rt() -> Runtime:
    return current_app.extensions["balancer"]


def pool_models(rt: Runtime) -> dict[str, list[str]]:
    """Each enabled pool's name, default first, with the models a chat may name there:
    its listed models and aliases, plus the suffixed variants ``GET /v1/models`` lists."""
    out: dict[str, list[str]] = {}
    pools = sorted((p for p in rt.catalog.pools.values() if p.enabled),
                   key=lambda p: (not p.is_default, p.id))
    for pool in pools:
        out[pool.name] = []
    active = suffixes.active(rt.settings.current)
    for pool in pools:
        names = out[pool.name]
        for model in (*pool.models, *pool.aliases):
            if model in names:
                continue
            names.append(model)
            if speaks_gemini(pool.kind):
                names.extend(model + suffix for suffix in suffixes.variants(model, active))
    return out


def _pool(rt: Runtime, name: str) -> PoolInfo:
    return next(p for p in rt.catalog.pools.values() if p.name == name)


def addressed_model(rt: Runtime, pool: PoolInfo, model: str) -> str:
    """The model name to send so that routing picks ``pool``: the name alone when it
    already leads there (the very call a client would make), else ``pool/model``."""
    base, _ = suffixes.split_unlisted(model, rt.settings.current, rt.catalog)
    try:
        if route_model(rt.catalog, base).pool.id == pool.id:
            return model
    except BadRequest:
        pass
    return f"{pool.name}/{model}"


def chat_body(rt: Runtime, form: PlaygroundForm) -> bytes:
    """The OpenAI chat request a client would send for this form."""
    messages = []
    if form.system.data and form.system.data.strip():
        messages.append({"role": "system", "content": form.system.data})
    messages.append({"role": "user", "content": form.message.data})
    body = {"model": addressed_model(rt, _pool(rt, form.pool.data), form.model.data),
            "messages": messages, "temperature": form.temperature.data,
            "max_tokens": form.max_tokens.data, "stream": bool(form.stream.data)}
    if body["stream"]:
        # Usage arrives in a last chunk only when asked for: the page shows tokens in/out.
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, ensure_ascii=False).encode()


def _formdata(payload: dict) -> Optional[MultiDict]:
    """The JSON object as form data (what WTForms reads), or None when a value is no scalar."""
    data = MultiDict()
    for name, value in payload.items():
        if isinstance(value, bool):
            # An unchecked box is an absent field for WTForms.
            if value:
                data[name] = "y"
        elif isinstance(value, (int, float, str)):
            data[name] = str(value)
        elif value is not None:
            return None
    return data


def _error(status: int, message: str, fields: Optional[dict] = None) -> Response:
    """An error in the proxy's envelope, so the page reads both kinds alike."""
    error = {"message": message, "type": "invalid_request_error" if status < 500 else "server_error"}
    if fields:
        error["fields"] = fields
    return jsonify(error=error), status


@bp.post("/playground/chat")
def playground_chat():
    """Send the form's chat through the proxy path; answer as the proxy does, plus the masked key."""
    rt = _rt()
    payload = request.get_json(silent=True)
    formdata = _formdata(payload) if isinstance(payload, dict) else None
    if formdata is None:
        return _error(400, "Send the form as a JSON object of text, numbers and true/false.")
    form = PlaygroundForm(pool_models(rt), formdata=formdata)
    if not form.validate():
        fields = {name: errors for name, errors in form.errors.items() if name != "csrf_token"}
        first = next(iter(fields.values()), ["The form is not valid."])[0]
        return _error(400, first, fields)
    if not rt.loaded:
        return _error(503, "Balancer is starting: no key pool is loaded yet.")
    out = serve_chat(rt, PLAYGROUND, chat_body(rt, form))
    key_id = out.headers.get("x-balancer-key")
    if key_id:
        try:
            # Percent-encoded: a header is Latin-1, and the mask's ellipsis is not.
            out.headers[KEY_DISPLAY_HEADER] = quote(key_service.get_key(int(key_id)).display, safe="")
        except LookupError:
            pass  # deleted while it answered: the id alone is shown
    return out


def _page(form: SavePromptForm, status: int = 200, notice: str = ""):
    return render_template("playground/index.html", form=form, models=form.models,
                           prompts=prompt_service.list_prompts(), notice=notice), status


@bp.get("/playground")
def playground():
    """The chat form, its answer pane and the saved prompts; ``?prompt=<id>`` loads one."""
    rt = _rt()
    models = pool_models(rt)
    prompt_id = request.args.get("prompt", type=int)
    if prompt_id is None:
        return _page(SavePromptForm(models))
    try:
        row = prompt_service.get_prompt(prompt_id)
    except LookupError:
        abort(404)
    # A pool gone since is replaced by the first one (the notice says so); the model
    # stays, marked as not listed when the chat is sent.
    pool = row.pool if row.pool in models else next(iter(models), row.pool)
    data = {"pool": pool, "model": row.model, "system": row.system or "",
            "message": row.message, "temperature": row.temperature,
            "max_tokens": row.max_tokens, "stream": row.stream}
    form = SavePromptForm(models, data=data)
    notice = ""
    if row.pool not in models:
        notice = f"The saved pool “{row.pool}” is not enabled any more; pick another."
    elif row.model not in models[row.pool]:
        notice = f"Pool “{row.pool}” no longer lists the saved model “{row.model}”."
    return _page(form, notice=notice or f"Loaded the saved prompt “{row.name}”.")


@bp.post("/playground/prompts")
def playground_save():
    """Save the form under a new name."""
    form = SavePromptForm(pool_models(_rt()))
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        row = prompt_service.save_prompt(form.name.data, form.fields())
    except prompt_service.PromptError as exc:
        form.name.errors = [str(exc)]
        return _page(form, status=400)
    flash(f"Saved the prompt “{row.name}”.", "success")
    return redirect(url_for("admin.playground", prompt=row.id))


@bp.post("/playground/prompts/<int:prompt_id>/delete")
def playground_delete(prompt_id: int):
    """Delete a saved prompt, after a confirmation page."""
    try:
        row = prompt_service.get_prompt(prompt_id)
    except LookupError:
        abort(404)
    if request.form.get("confirmed") != "yes":
        return render_template("playground/confirm_delete.html", prompt=row)
    prompt_service.delete_prompt(prompt_id)
    flash(f"Deleted the saved prompt “{row.name}”.", "success")
    return redirect(url_for("admin.playground"))
