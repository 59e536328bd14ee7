"""A real `abcgen serve` in its own process, and a plain HTTP client for it.

The server is started as a user starts it (the installed command, port 0 so
that tests never collide) and found by the address it prints. Stopping it with
SIGTERM lets uvicorn shut down cleanly; `kill()` is the SIGKILL of a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ADDRESS = re.compile(r"open (http://\S+/)")


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def serving(db: Path, *args: str, env: dict | None = None) -> Iterator[Server]:
    """`abcgen serve --port 0 --db DB ARGS`, until the block ends."""
    command = [sys.executable, "-c", "from abcgen.runtime.cli import main; main()",
               "serve", "--port", "0", "--db", str(db), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, **(env or {})})
    line = process.stdout.readline()  # the address, once the model and archive are open
    found = ADDRESS.search(line)
    if not found:
        process.kill()
        raise RuntimeError(f"abcgen serve did not start: {line}{process.stderr.read()}")
    server = Server(found.group(1).rstrip("/"), process)
    try:
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
        process.stderr.close()


@dataclass
class Answer:
    status: int
    headers: dict  # names in lower case
    body: bytes

    def json(self):
        return json.loads(self.body)


def call(url: str, method: str = "GET", body: bytes | dict | None = None,
         content_type: str = "application/json", timeout: float = 120) -> Answer:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": content_type} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, _lower(err.headers), err.read())


def _lower(headers) -> dict:
    return {name.lower(): value for name, value in headers.items()}


def wait_for(predicate, timeout: float = 60, every: float = 0.1):
    """The first true value of predicate(), or AssertionError after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {timeout} s")
