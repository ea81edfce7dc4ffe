"""nginx as a fixed-answer upstream and wrk as the load generator, for throughput figures.

The fake upstream and ``bench/load.py`` are Python: each costs about as much CPU per
request as Balancer itself, so on a small machine they, not Balancer, set the ceiling
of a throughput run. nginx answering one canned chat completion, and wrk sending the
load, cost a small fraction of that. Both come from Debian's packages
(``apt-get install nginx-light wrk``); nothing here downloads anything.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.proxy_bench import _end as end_process
from tests.live import free_port

#: What Gemini's OpenAI-compatible layer answers to a short chat, usage included
#: so that Balancer counts tokens as it would in production.
CHAT_ANSWER = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1763800000,
    "model": "gemini-2.5-flash",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello! I am well, thank you."}}],
    "usage": {"prompt_tokens": 8, "completion_tokens": 9, "total_tokens": 17},
}

#: nginx in the foreground, its files in ``{tmp}``, one server: ``{server}``.
NGINX_MAIN = """daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  keepalive_requests 10000000;
  server {{
    listen 127.0.0.1:{port};
{server}
  }}
}}
"""

NGINX_CHAT = """    location / {{
      default_type application/json;
      return 200 '{body}';
    }}"""

WRK_SCRIPT = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {bearer}"
"""


def available() -> bool:
    """Whether nginx and wrk are installed."""
    return bool(shutil.which("nginx") and shutil.which("wrk"))


def start_nginx(stack: ExitStack, tmp: Path) -> tuple[subprocess.Popen, str]:
    """nginx on a free loopback port, answering every request with ``CHAT_ANSWER``."""
    port = free_port()
    conf = tmp / "nginx.conf"
    server = NGINX_CHAT.format(body=json.dumps(CHAT_ANSWER, separators=(",", ":")))
    conf.write_text(NGINX_MAIN.format(tmp=tmp, port=port, server=server))
    log = stack.enter_context(open(tmp / "nginx.out", "wb"))
    proc = subprocess.Popen([shutil.which("nginx") or "nginx", "-p", str(tmp), "-c", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    stack.callback(end_process, proc)  # SIGTERM: nginx's fast shutdown
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url + "/v1beta/openai/chat/completions", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(tmp / 'nginx-error.log').read_text()}")
            time.sleep(0.1)


@dataclass
class WrkRun:
    """One wrk process in flight against one Balancer."""

    proc: subprocess.Popen
    seconds: float

    def result(self) -> dict:
        """Wait for wrk and read its report: requests, rate, latency and failures."""
        out, _ = self.proc.communicate(timeout=self.seconds + 60)
        return parse_wrk(out)


def start_wrk(tmp: Path, url: str, bearer: str, body: dict, seconds: float,
              connections: int, name: str) -> WrkRun:
    """Start one single-threaded wrk sending ``body`` to ``url`` for ``seconds``."""
    script = tmp / f"wrk-{name}.lua"
    script.write_text(WRK_SCRIPT.format(body=json.dumps(body, separators=(",", ":")), bearer=bearer))
    proc = subprocess.Popen(
        [shutil.which("wrk") or "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency",
         "--timeout", "10s", "-s", str(script), url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return WrkRun(proc, seconds)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(out: str) -> dict:
    """The figures of wrk's text report."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not done:
        raise RuntimeError(f"wrk printed no report:\n{out}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = {f"p{q}": _ms(v) for q, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)$", out, re.M)}
    return {
        "sent": int(done.group(1)),
        "elapsed_s": _ms(done.group(2) + done.group(3)) / 1000,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "latency_ms": latency,
        "errors": (int(failed.group(1)) if failed else 0)
        + (sum(int(x) for x in socket.groups()) if socket else 0),
    }
