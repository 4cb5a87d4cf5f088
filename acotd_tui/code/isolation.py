"""How far below Python the sandbox can wall off model-written code on this machine.

Levels, best first:
- `bubblewrap`: `bwrap` (Debian/Ubuntu package `bubblewrap`) puts the solution in its own
  mount, PID, network, IPC and UTS namespaces: the whole filesystem read-only, a private
  empty /tmp with only the run's own directory writable, no network interfaces, no other
  processes visible. As root it keeps only the capability to drop to `nobody`; as any other
  user it adds a user namespace.
- `namespaces`: no bubblewrap, not root, but the kernel lets users create namespaces: the
  harness itself enters user, mount, network, IPC and UTS namespaces, makes every mount
  read-only except the run's folder (shown at /tmp/box on a private /tmp) and drops the
  capabilities it had there. No PID namespace (other processes stay visible).
- `process`: none of the above: a separate process with
  rlimits, `nobody` when started as root, a network namespace when root, and the audit hook.
  Files the running user may write are then only guarded by the audit hook, a tripwire that
  ctypes or a kernel bug can get around. `acotd status`, the Settings screen and the README
  say so.
A configured `code.isolation_command` replaces the automatic choice.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from enum import StrEnum
from pathlib import Path

BOX = "/tmp/box"  # where the run's own directory appears inside bubblewrap


class Isolation(StrEnum):
    AUTO = "auto"
    BUBBLEWRAP = "bubblewrap"
    NAMESPACES = "namespaces"
    PROCESS = "process"
    CUSTOM = "custom"


def bwrap_prefix(box: Path, *, as_root: bool, extra_ro: tuple[str, ...] = ()) -> list[str]:
    """bwrap arguments: read-only root, fresh /dev, /proc and /tmp, the box writable."""
    prefix = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    prefix += ["--tmpfs", "/tmp"]
    for path in extra_ro:  # interpreter or package under /tmp would be hidden by the tmpfs
        if path == "/tmp" or path.startswith("/tmp/"):
            prefix += ["--ro-bind", path, path]
    prefix += ["--bind", str(box), BOX, "--chdir", BOX]
    prefix += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    prefix += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if as_root:  # no user namespace: the harness drops to the real `nobody`
        prefix += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        prefix += ["--unshare-user"]
    return prefix


@functools.lru_cache(maxsize=4)
def bubblewrap_works(euid: int) -> bool:
    """Probe once per user: bwrap present and allowed to create its namespaces here."""
    if shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="acotd-probe-") as tmp:
        command = [*bwrap_prefix(Path(tmp), as_root=euid == 0), "/bin/true"]
        try:
            return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


@functools.lru_cache(maxsize=4)
def namespaces_work(euid: int) -> bool:
    """Probe once per user: the harness's own namespaces, read-only root and private /tmp."""
    if euid == 0:  # root uses `nobody` and a network namespace instead
        return False
    harness = Path(__file__).resolve().parent / "harness.py"
    with tempfile.TemporaryDirectory(prefix="acotd-probe-") as tmp:
        command = [sys.executable, "-I", str(harness), "--probe-namespaces"]
        try:
            done = subprocess.run(command, cwd=tmp, capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0


def resolve(requested: str, isolation_command: tuple[str, ...] = ()) -> Isolation:
    if isolation_command:
        return Isolation.CUSTOM
    wanted, euid = Isolation(requested), os.geteuid()
    if wanted is Isolation.AUTO:
        if bubblewrap_works(euid):
            return Isolation.BUBBLEWRAP
        return Isolation.NAMESPACES if namespaces_work(euid) else Isolation.PROCESS
    if wanted is Isolation.BUBBLEWRAP and not bubblewrap_works(euid):
        raise RuntimeError("bubblewrap was asked for but cannot run here (is `bwrap` installed?)")
    if wanted is Isolation.NAMESPACES and not namespaces_work(euid):
        raise RuntimeError("namespaces were asked for but cannot be created here (or as root)")
    return wanted


def labels(level: Isolation) -> list[str]:
    base = ["separate checker process", "audit hook"]
    if level is Isolation.BUBBLEWRAP:
        return ["bubblewrap: read-only root, private /tmp, no network, own PIDs", *base]
    if level is Isolation.CUSTOM:
        return ["isolation_command", *base]
    if level is Isolation.NAMESPACES:
        return base  # the harness reports its namespaces itself
    return ["no isolation below Python", *base]


def isolation_summary(isolation_command: tuple[str, ...] | list[str] = ()) -> str:
    """One line for `acotd status` and the Settings screen."""
    level = resolve("auto", tuple(isolation_command))
    user = "as nobody" if os.geteuid() == 0 else "as your user"
    if level is Isolation.BUBBLEWRAP:
        return (
            "bubblewrap (read-only filesystem, private /tmp, no network, own PIDs), "
            f"runs {user}; verdicts computed outside it"
        )
    if level is Isolation.NAMESPACES:
        return (
            "user and mount namespaces (read-only filesystem, private /tmp, no network; "
            f"no bubblewrap, so other processes stay visible), runs {user}; verdicts computed outside it"
        )
    if level is Isolation.CUSTOM:
        return f"isolation_command {' '.join(isolation_command)[:60]}; verdicts computed outside it"
    return (
        "WARNING: no filesystem or network isolation below Python (neither bubblewrap nor "
        f"user namespaces usable; install the `bubblewrap` package); runs {user} behind an "
        "audit hook only"
    )


def interpreter_paths() -> tuple[str, ...]:
    """Paths that must stay visible inside bubblewrap for the interpreter and our scripts."""
    return (
        str(Path(sys.executable).parent.parent),
        sys.base_prefix,
        str(Path(__file__).resolve().parent),
    )
