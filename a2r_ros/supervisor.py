"""Each node of a bring-up in its own process, watched: what `ros2 launch` does, for `a2r ros up`
and `a2r demo` on machines without `launch`.

Why processes and not one executor: nodes in one Python process share one interpreter lock. In the
main job the bridge's rendering, the planner and the reward node's inference took turns on it, and
the reward node's inference p99 was 729 ms where the same model alone runs at 13 ms (issue 15,
item 8). A process per node, as a launch file starts them, removes that contention.

Why watched: a bring-up whose reward node has died is useless, yet its bridge and planner would
keep running (the planner waiting 120 s for a service that never comes). A *required* node
(`REQUIRED_NODES`) that exits ends the whole bring-up: the others are stopped and the caller gets
the reason (the node's last ERROR/FATAL line and its exit status). The launch files do the same
with an `OnProcessExit` handler (`required_exit_reason` words the message for both).

No orphans: every child gets SIGTERM when the process that started it dies (Linux
`PR_SET_PDEATHSIG`), and `Supervisor.stop` stops the rest (SIGTERM, then SIGKILL after a grace
period). SIGTERM rather than SIGINT: a node still importing its modules would print a
KeyboardInterrupt traceback on SIGINT, and once running every a2r node treats both alike
(`a2r_ros.node_main.ExitSignals`).

Pure Python (no rclpy): the launch files import `REQUIRED_NODES` and `required_exit_reason`.
"""

from __future__ import annotations

import collections
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Mapping, Optional, Sequence, TextIO

import yaml

# Nodes without which a bring-up cannot do its job: the reward node, and the simulator bridge the
# planner rolls out through. The planner is not required: it ends its episodes and stays up, and a
# planner error leaves the reward node serving.
REQUIRED_NODES = frozenset({"reward_node", "metaworld_bridge", "pybullet_bridge"})
STOP_TIMEOUT_S = 10.0   # after SIGTERM, before SIGKILL
EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1
_TAIL_LINES = 40


def required_exit_reason(name: str, returncode: Optional[int], last_error: str = "") -> str:
    """The one-line reason a bring-up ends when the required node `name` exits."""
    if returncode is None:
        status = "exited"
    elif returncode < 0:
        status = f"was killed by signal {-returncode}"
    else:
        status = f"exited with status {returncode}"
    why = f": {last_error}" if last_error else ""
    return f"required node {name} {status}{why}"


def launch_exit_handler(name: str) -> Callable[[Any, Any], None]:
    """The OnProcessExit callback the launch files register on each required node: unless launch
    is already shutting down (Ctrl-C), raise. Launch then logs the reason ("Caught exception in
    launch ...: required node reward_node exited with status 1"), shuts every node down and exits
    with status 1, where a `Shutdown` action would end it with status 0. Needs only the two fields
    launch passes (`event.returncode`, `context.is_shutdown`), so it imports nothing of launch."""
    def on_exit(event: Any, context: Any) -> None:
        if context.is_shutdown:
            return None
        raise RuntimeError(required_exit_reason(name, event.returncode))
    return on_exit


def _error_text(line: str) -> Optional[str]:
    """The message of an rcutils ERROR/FATAL line (`[FATAL] [stamp] [name]: text`), else None."""
    if "[FATAL]" not in line and "[ERROR]" not in line:
        return None
    _, sep, text = line.partition("]: ")
    return (text if sep else line).strip()


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")


def _load_libc_prctl() -> Optional[Callable[..., int]]:
    """libc's prctl, looked up once in the parent: the child's pre-exec hook must not import or
    allocate (it runs between fork and exec, while other threads of the parent may hold locks)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_libc_prctl()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies, so a killed supervisor leaves no
    orphans behind."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def node_command(module: str, name: str, params_file: Path, namespace: str = "",
                 ros_args: Sequence[str] = ()) -> list[str]:
    """`python -m MODULE --ros-args ...`: the node's own executable (its `main`, the one `ros2 run`
    starts), named `name`, in `namespace`, with the parameters of `params_file`."""
    args = [sys.executable, "-m", module, "--ros-args", "-r", f"__node:={name}"]
    if namespace.strip("/"):
        args += ["-r", f"__ns:=/{namespace.strip('/')}"]
    return args + ["--params-file", str(params_file), *ros_args]


def write_params_file(path: Path, values: Mapping[str, Any]) -> Path:
    """A ROS 2 parameter file giving one node (the only one in its process: `/**`) `values`."""
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": dict(values)}}, default_flow_style=None,
                                   sort_keys=False))
    return path


class NodeProcess:
    """One child process running a node; its output is relayed line by line with a `[name]`
    prefix (as `ros2 launch` does) and the last lines are kept to tell why it exited."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], required: bool,
                 cwd: Optional[Path] = None, echo: bool = True) -> None:
        self.name, self.required, self.echo = name, required, echo
        self.tail: "collections.deque[str]" = collections.deque(maxlen=_TAIL_LINES)
        self.last_error = ""
        self._lock = threading.Lock()
        self.popen = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=dict(env), cwd=cwd, text=True,
                                      errors="replace", preexec_fn=_die_with_parent)
        self.pid = self.popen.pid
        self._pumps = [threading.Thread(target=self._pump, args=(stream, err), daemon=True,
                                        name=f"{name}-{'err' if err else 'out'}")
                       for stream, err in ((self.popen.stdout, False), (self.popen.stderr, True))]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream: TextIO, is_err: bool) -> None:
        for line in stream:
            with self._lock:
                self.tail.append(line.rstrip("\n"))
                error = _error_text(line)
                if error:
                    self.last_error = error
            if self.echo:
                out = sys.stderr if is_err else sys.stdout
                try:
                    out.write(f"[{self.name}] {line}" if line.endswith("\n") else f"[{self.name}] {line}\n")
                    out.flush()
                except (OSError, ValueError):
                    pass  # our own output is gone (closed pipe): keep draining the child's
        stream.close()

    def poll(self) -> Optional[int]:
        return self.popen.poll()

    def why(self) -> str:
        """Its last ERROR/FATAL message, else the last exception line of a traceback, else ""."""
        with self._lock:
            if self.last_error:
                return self.last_error
            lines = list(self.tail)
        return next((line.strip() for line in reversed(lines) if _EXCEPTION_LINE.match(line.strip())), "")

    def join_output(self, timeout: float = 5.0) -> None:
        """Wait until the child's output has been relayed (after it exited)."""
        for pump in self._pumps:
            pump.join(timeout)

    def error_lines(self, needle: str = "") -> list[str]:
        """The ERROR/FATAL messages among the kept lines (those containing `needle`)."""
        with self._lock:
            lines = list(self.tail)
        return [e for e in (_error_text(line) for line in lines) if e and needle in e]


class Supervisor:
    """Starts nodes as child processes and watches them (see the module docstring)."""

    def __init__(self, env: Mapping[str, str], log: Callable[[str], None], cwd: Optional[Path] = None,
                 echo: bool = True) -> None:
        self.env, self.log, self.cwd, self.echo = dict(env), log, cwd, echo
        self.processes: dict[str, NodeProcess] = {}
        self.stopping = False
        self._reported: set[str] = set()

    def start(self, name: str, argv: Sequence[str], required: Optional[bool] = None) -> NodeProcess:
        """Start one node process (`required`: default from REQUIRED_NODES)."""
        if name in self.processes and self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        required = name in REQUIRED_NODES if required is None else required
        process = NodeProcess(name, argv, self.env, required, self.cwd, self.echo)
        self.processes[name] = process
        self._reported.discard(name)
        return process

    def check(self) -> Optional[str]:
        """Note the processes that exited since the last call; the reason to end the bring-up if
        a required one did (None otherwise, and always None once stopping)."""
        reason = None
        for name, process in self.processes.items():
            code = process.poll()
            if code is None or name in self._reported:
                continue
            self._reported.add(name)
            process.join_output(2.0)
            if self.stopping:
                continue
            if process.required:
                reason = reason or required_exit_reason(name, code, process.why())
            else:
                detail = f" ({process.why()})" if code and process.why() else ""
                self.log(f"{name} exited with status {code}{detail}")
        return reason

    def running(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is None]

    def wait(self, until: Callable[[], bool] = lambda: False, poll_s: float = 0.1) -> Optional[str]:
        """Block until `until()` holds, every process has exited, or a required one exited (its
        reason is returned; None otherwise)."""
        while True:
            reason = self.check()
            if reason is not None:
                return reason
            if until() or not self.running():
                return None
            time.sleep(poll_s)

    def stop_one(self, name: str, timeout_s: float = STOP_TIMEOUT_S) -> Optional[int]:
        """Stop one node process (SIGTERM, then SIGKILL); its exit status."""
        process = self.processes[name]
        self._reported.add(name)  # a stop we asked for is not news
        self._terminate([process], timeout_s)
        return process.poll()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
        """Stop every running node, latest started first; the names that had to be killed."""
        self.stopping = True
        return self._terminate(list(reversed(self.processes.values())), timeout_s)

    def _terminate(self, processes: Sequence[NodeProcess], timeout_s: float) -> list[str]:
        alive = [p for p in processes if p.poll() is None]
        for process in alive:
            try:
                process.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout_s
        while any(p.poll() is None for p in alive) and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = []
        for process in alive:
            if process.poll() is None:
                killed.append(process.name)
                self.log(f"{process.name} (pid {process.pid}) did not stop within {timeout_s:g} s of SIGTERM: killed")
                process.popen.kill()
                process.popen.wait()
        for process in processes:
            process.join_output(2.0)
        return killed


class StopSignals:
    """SIGINT/SIGTERM for a process that supervises others: the first one asks for a stop (an
    event the supervising loop polls, never an exception in the middle of starting a child);
    later ones are ignored while the children stop. `restore()` puts back the previous handlers
    when no signal came (an in-process caller, e.g. a test); after a signal the process is on its
    way out and keeps ignoring them, so a late Ctrl-C cannot turn a clean exit into a traceback."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: Optional[int] = None
        self._previous: dict[int, Any] = {}

    def install(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in EXIT_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.received is None:
            self.received = signum
        self.event.set()

    def __call__(self) -> bool:
        return self.event.is_set()

    def restore(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if self.received is not None else handler)


def child_environment(extra: Optional[Mapping[str, str]] = None,
                      base: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The environment of node processes: `base` (default os.environ) + `extra`, with Python's
    output unbuffered so log lines are relayed as they happen."""
    env = dict(os.environ if base is None else base)
    env.update(extra or {})
    env["PYTHONUNBUFFERED"] = "1"
    return env
