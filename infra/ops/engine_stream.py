"""The engine's streamed output as acs-infra shows it: a refusal raised inside a dynamic provider in one line.

Pulumi's dynamic provider host reports any exception a provider raises with its whole traceback (it aborts the
call with `traceback.format_exc()`, pulumi/dynamic/__main__.py), and the engine prints that as the resource's
diagnostic. An error class of our own (`infra.*`: an ownership refusal, a Railway answer, a config error) is a
message for the user: its diagnostic is shown as its final line. Any other exception is a crash and keeps its
traceback.
"""
from __future__ import annotations

import re
import threading
from typing import Callable

TRACEBACK = "Traceback (most recent call last):"
OURS = re.compile(r"^(infra(?:\.\w+)+): ")  # the final exception line of a traceback, raised by this tool
FINAL = re.compile(r"^[A-Za-z_][\w.]*(?:: |$)")  # any exception line (`KeyError: 'x'`, `StopIteration`)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def shorten(block: list[str]) -> list[str]:
    """A diagnostic that starts with `error: Traceback ...`: its final exception line when the class is ours (with
    the lines of a message of several lines), else the whole block unchanged."""
    base = _indent(block[0])
    finals = [i for i, line in enumerate(block[1:], 1) if _indent(line) == base and FINAL.match(line.strip())
              and not line.strip().startswith((TRACEBACK, "During handling", "The above exception"))]
    if not finals or not OURS.match(block[finals[-1]].strip()):
        return block
    message = block[finals[-1]:]
    while message and not message[-1].strip():
        message.pop()
    return [" " * base + "error: " + message[0].strip(), *message[1:]] + ([""] if not block[-1].strip() else [])


class EngineStream:
    """Takes the engine's output line by line and writes it on, holding a traceback diagnostic until it ends (a
    line indented less than it) to write it shortened."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self.write = write
        self.block: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        text = line.rstrip("\n")
        with self.lock:
            if self.block and (not text.strip() or _indent(text) >= _indent(self.block[0])):
                self.block.append(text)
                return
            self._flush()
            if text.lstrip().startswith("error: " + TRACEBACK):  # a diagnostic: held until it ends
                self.block = [text]
                return
            # a progress line announces the diagnostic below ("creating (0s) error: Traceback ...")
            self.write(text.replace("error: " + TRACEBACK, "error: (see the diagnostics below)") + "\n")

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        block, self.block = self.block, []
        for line in shorten(block) if block else []:
            self.write(line + "\n")
