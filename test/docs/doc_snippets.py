"""What the doc-runner test reads out of README.md and docs/*.md, and how it runs it.

Shell code blocks (```bash / sh / shell) give one command per logical line (backslash
continuations joined, comments dropped, whitespace runs collapsed: the command's key); a block
that starts a background job (`... &`) or `wait`s is one script, since its lines only make sense
together. Python blocks (```python) are one snippet each. Other blocks (yaml, json, plain text)
are configuration or output samples, not commands.

Commands run as a user of a fresh checkout runs them: in a folder that looks like the checkout
(links to its .venv, install/, checkpoints/, config/ and scripts/), through bash after
`source scripts/env.sh`, so outputs (runs/, data/, scored/) land in that folder, not in the repo.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"bash", "sh", "shell", "console"}
CHECKOUT_LINKS = (".venv", "install", "checkpoints", "config", "scripts")


@dataclass(frozen=True)
class Snippet:
    """A shell command (or script) or a Python block of one doc, with where it is."""

    file: str
    line: int
    kind: str  # "shell" | "python"
    text: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def strip_comment(line: str) -> str:
    """`line` without a trailing shell comment (a # at the start or after a blank, outside quotes)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def shell_commands(block: str) -> list[str]:
    """Logical command lines of a shell block: continuations joined, comments and blanks dropped,
    whitespace runs collapsed; a here-document (`<<'PY'` ... `PY`) stays verbatim with its command."""
    out, pending = [], ""
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        line = strip_comment(raw) if not pending or not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = " ".join((pending + line).split())
        pending = ""
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", text)
        if heredoc:
            body = []
            while i < len(lines) and lines[i].strip() != heredoc.group(1):
                body.append(lines[i])
                i += 1
            i += 1  # the delimiter line
            text = "\n".join([text, *body, heredoc.group(1)])
        if text:
            out.append(text)
    if pending.strip():
        out.append(" ".join(pending.split()))
    return out


def extract(files: list[str] | None = None) -> list[Snippet]:
    """Every shell command / script and Python block of the docs, in document order."""
    found: list[Snippet] = []
    for name in files or DOCS:
        text = (ROOT / name).read_text(encoding="utf-8")
        for m in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.S | re.M):
            lang, body = m.group(1).lower(), m.group(2)
            line = text[: m.start()].count("\n") + 2  # first line inside the fence
            if lang == "python":
                found.append(Snippet(name, line, "python", body))
            elif lang in SHELL_LANGS:
                cmds = shell_commands(body)
                if any(c.endswith("&") or c == "wait" for c in cmds):
                    found.append(Snippet(name, line, "shell", "\n".join(cmds)))
                else:
                    found.extend(Snippet(name, line, "shell", c) for c in cmds)
    return found


def make_checkout(folder: Path) -> Path:
    """A folder that looks like a set-up checkout to the docs' commands (links, no outputs)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in CHECKOUT_LINKS:
        link = folder / name
        if not link.exists():
            link.symlink_to(ROOT / name, target_is_directory=True)
    return folder


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # env.sh sets what the docs' user gets
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_shell(command: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """`command` through bash after `source scripts/env.sh`, as a user types it in a new shell."""
    script = f"source scripts/env.sh >/dev/null\n{command}\n"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def run_python(code: str, cwd: Path, timeout: float, name: str = "snippet.py") -> subprocess.CompletedProcess:
    """`code` as a script file run by the checkout's Python (after `source scripts/env.sh`)."""
    path = cwd / name
    path.write_text(code, encoding="utf-8")
    return run_shell(f"python {name}", cwd, timeout)


@dataclass
class Served:
    """A long-running command's output until it was interrupted, and its exit status."""

    ready: bool
    returncode: int | None
    output: str


def serve(command: str, cwd: Path, ready: Sequence[str], timeout: float, settle: float = 2.0,
          grace: float = 30.0) -> Served:
    """Start a command that runs until Ctrl-C, wait until its output matches every regex of
    `ready`, let it run `settle` s more, then press Ctrl-C (SIGINT to its process group, as a
    terminal does) and collect its exit.

    Not ready when the command exits on its own first (it should not) or when `ready` does not
    appear within `timeout` s.
    """
    proc = subprocess.Popen(["bash", "-c", f"source scripts/env.sh >/dev/null\n{command}\n"], cwd=cwd,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    patterns = [re.compile(r) for r in ready]
    deadline = time.monotonic() + timeout
    ok = False
    while time.monotonic() < deadline and proc.poll() is None:
        if all(p.search("".join(lines)) for p in patterns):
            time.sleep(settle)
            ok = proc.poll() is None
            break
        time.sleep(0.2)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(5)
    return Served(ok, proc.returncode, "".join(lines))
