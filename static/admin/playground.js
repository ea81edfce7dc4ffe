// The playground page: the model select follows the pool, and "Send" posts the form
// to the admin chat endpoint, which answers as the proxy does. A streamed answer is
// read with a ReadableStream and its SSE events parsed as they arrive, so the text
// grows token by token. Text goes in with textContent only: an answer is never HTML.
(function () {
  "use strict";

  var form, answer, statusLine, errorBox, sendButton, stopButton, controller;

  function $(id) { return document.getElementById(id); }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function fillModels(keep) {
    var models = JSON.parse(form.getAttribute("data-models") || "{}");
    var select = $("model");
    var names = models[$("pool").value] || [];
    select.textContent = "";
    names.forEach(function (name) {
      var option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.appendChild(option);
    });
    if (keep && names.indexOf(keep) >= 0) select.value = keep;
    $("model-empty").hidden = names.length > 0;
  }

  function fact(id, text) { $(id).textContent = text; }

  function ms(value) { return Math.round(value) + " ms"; }

  function setState(state, message) {
    answer.setAttribute("data-state", state);
    statusLine.textContent = message;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function clearFieldErrors() {
    form.querySelectorAll(".is-invalid").forEach(function (el) { el.classList.remove("is-invalid"); });
    form.querySelectorAll(".playground-field-error").forEach(function (el) { el.remove(); });
  }

  function markFields(fields) {
    Object.keys(fields || {}).forEach(function (name) {
      var input = $(name);
      if (!input) return;
      input.classList.add("is-invalid");
      var note = document.createElement("div");
      note.className = "invalid-feedback playground-field-error";
      note.textContent = fields[name].join(" ");
      input.insertAdjacentElement("afterend", note);
    });
  }

  // The message of an error answer: the proxy's envelope, the admin's, or a plain one.
  function errorMessage(body, status) {
    var error = body && body.error;
    if (Array.isArray(body) && body[0] && body[0].error) error = body[0].error;
    if (typeof error === "string") return error;
    if (error && error.message) return error.message;
    return "The request failed (HTTP " + status + ").";
  }

  function showHeaders(resp) {
    var id = resp.headers.get("x-balancer-key");
    var display = resp.headers.get("x-balancer-key-display");
    if (display) {
      try { display = decodeURIComponent(display); } catch (e) { display = null; }
    }
    fact("fact-key", id ? (display ? display + " (#" + id + ")" : "#" + id) : "none");
    fact("fact-attempts", resp.headers.get("x-balancer-attempts") || "–");
  }

  function showUsage(usage) {
    if (!usage) return;
    fact("fact-tokens", (usage.prompt_tokens != null ? usage.prompt_tokens : "?") + " / " +
      (usage.completion_tokens != null ? usage.completion_tokens : "?"));
  }

  function formBody() {
    return {
      pool: $("pool").value,
      model: $("model").value,
      system: $("system").value,
      message: $("message").value,
      temperature: $("temperature").value,
      max_tokens: $("max_tokens").value,
      stream: $("stream").checked
    };
  }

  // One SSE event's data lines; returns false once the stream says it is done.
  function handleEvent(text, t) {
    var data = text.split(/\r?\n/).filter(function (line) { return line.indexOf("data:") === 0; })
      .map(function (line) { return line.slice(5).replace(/^ /, ""); }).join("\n");
    if (!data) return true;
    if (data === "[DONE]") return false;
    var chunk;
    try { chunk = JSON.parse(data); } catch (e) { return true; }
    if (chunk.error) {
      showError(errorMessage(chunk, 200));
      return true;
    }
    var choice = chunk.choices && chunk.choices[0];
    var piece = choice && choice.delta && choice.delta.content;
    if (piece) {
      if (t.firstToken === null) t.firstToken = performance.now();
      answer.textContent += piece;
      setState("streaming", "Receiving…");
    }
    showUsage(chunk.usage);
    return true;
  }

  function readStream(resp, t) {
    var reader = resp.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (step) {
        if (step.done) {
          if (buffer.trim()) handleEvent(buffer, t);
          return;
        }
        if (t.firstByte === null) {
          t.firstByte = performance.now();
          fact("fact-ttfb", ms(t.firstByte - t.start));
        }
        buffer += decoder.decode(step.value, { stream: true });
        var events = buffer.split(/\r?\n\r?\n/);
        buffer = events.pop();
        for (var i = 0; i < events.length; i++) {
          if (!handleEvent(events[i], t)) return reader.cancel();
        }
        return pump();
      });
    }
    return pump();
  }

  function readWhole(resp, t) {
    return resp.text().then(function (text) {
      t.firstByte = t.firstByte || performance.now();
      fact("fact-ttfb", ms(t.firstByte - t.start));
      var body;
      try { body = JSON.parse(text); } catch (e) { body = null; }
      var choice = body && body.choices && body.choices[0];
      answer.textContent = (choice && choice.message && choice.message.content) || "";
      showUsage(body && body.usage);
    });
  }

  function send() {
    if (controller) return;
    clearFieldErrors();
    errorBox.hidden = true;
    answer.textContent = "";
    ["fact-key", "fact-attempts", "fact-latency", "fact-ttfb", "fact-tokens"].forEach(function (id) {
      fact(id, "–");
    });
    setState("waiting", "Sending…");
    sendButton.disabled = true;
    stopButton.disabled = false;
    controller = new AbortController();
    var t = { start: performance.now(), firstByte: null, firstToken: null };
    fetch(form.getAttribute("data-chat-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(),
                 "Accept": "text/event-stream, application/json" },
      body: JSON.stringify(formBody()),
      signal: controller.signal
    }).then(function (resp) {
      showHeaders(resp);
      if (!resp.ok) {
        return resp.json().catch(function () { return null; }).then(function (body) {
          markFields(body && body.error && body.error.fields);
          throw new Error(errorMessage(body, resp.status));
        });
      }
      var type = resp.headers.get("Content-Type") || "";
      return type.indexOf("text/event-stream") === 0 ? readStream(resp, t) : readWhole(resp, t);
    }).then(function () {
      fact("fact-latency", ms(performance.now() - t.start));
      setState(errorBox.hidden ? "done" : "error", errorBox.hidden ? "Complete." : "Ended with an error.");
    }).catch(function (err) {
      fact("fact-latency", ms(performance.now() - t.start));
      if (err.name === "AbortError") {
        setState("stopped", "Stopped.");
        return;
      }
      showError(err.message || "Balancer did not answer; try again.");
      setState("error", "Failed.");
    }).finally(function () {
      controller = null;
      sendButton.disabled = false;
      stopButton.disabled = true;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = $("playground-form");
    if (!form) return;
    answer = $("playground-answer");
    statusLine = $("playground-status");
    errorBox = $("playground-error");
    sendButton = $("playground-send");
    stopButton = $("playground-stop");
    $("pool").addEventListener("change", function () { fillModels($("model").value); });
    sendButton.addEventListener("click", send);
    stopButton.addEventListener("click", function () { if (controller) controller.abort(); });
    // Enter in a text box submits the form: that sends the chat; only the save
    // button saves.
    form.addEventListener("submit", function (event) {
      if (event.submitter && event.submitter.id === "save") return;
      event.preventDefault();
      send();
    });
  });
})();
