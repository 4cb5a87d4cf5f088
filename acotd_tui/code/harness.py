"""The program inside the sandbox: it runs the solution and answers calls, nothing more.

Started by `checker.py` as `python -I harness.py` (behind bubblewrap where available). It
never sees a test's expected value and decides nothing: whatever it (or the solution, which
shares its process) sends back is data that the checker compares in its own process.

Protocol (one JSON object per line; requests on stdin, replies on stdout, both moved to
private descriptors before any solution code runs):
  first line   {"mode": "stdio"|"call", "code": str, "setup": str|null, "limits": {...}}
  stdio        {"id": n, "stdin": str} -> {"id": n, "exit": int, "stdout": str, "stderr": str}
               (each case in a fresh forked child: own stdin, stdout, exit)
  call         after loading -> {"ready": true, "names": [...]} | {"ready": false, ...}
               {"id": n, "name": str, "args": wire, "kwargs": wire}
               -> {"id": n, "ok": true, "value": wire, "stdout": str}
               |  {"id": n, "ok": false, "status": str, "error": str, "detail": str}

Before solution code runs: resource limits, a network namespace where the kernel allows
(bubblewrap already gives one), root dropped to `nobody`, no new privileges, death with the
parent, and an audit hook that refuses writes outside the working directory, processes,
sockets and risky ctypes symbols (a tripwire: the walls are the layers below Python).
Standard library only.
"""

import contextlib
import ctypes
import io
import os
import resource
import selectors
import signal
import sys
import time
import traceback
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

del sys.path[0]

SANDBOX = os.path.realpath(os.getcwd())
TAIL = 2000
MAX_OUTPUT = 8 * 1024 * 1024  # bytes of stdout per stdio case
EXIT_CRASH, EXIT_MEMORY, EXIT_BLOCKED = 1, 12, 13
# Imported while still privileged: after dropping to `nobody` the interpreter may be unable
# to read its own library (e.g. Python under /root), and solutions commonly need these.
PRELOAD = [
    "abc", "array", "bisect", "calendar", "cmath", "collections", "collections.abc",
    "contextlib", "copy", "dataclasses", "datetime", "decimal", "encodings.idna",
    "encodings.latin_1", "encodings.ascii", "enum", "fnmatch", "fractions", "functools", "glob",
    "hashlib",
    "heapq", "itertools", "json", "math", "numbers", "operator", "pprint", "queue", "random",
    "re", "shutil", "socket", "statistics", "string", "struct", "subprocess", "textwrap",
    "threading", "types", "typing", "unicodedata", "weakref",
]  # fmt: skip


class SandboxViolation(Exception):
    pass


def limit(kind, value):
    try:
        _soft, hard = resource.getrlimit(kind)
        new = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (new, new))
    except (ValueError, OSError):
        pass


class MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("set", "clear", "propagation", "userns")]


def enter_namespaces(libc):
    """Without bubblewrap, as a normal user: user, mount, network, IPC and UTS namespaces;
    every mount read-only except this run's folder, which reappears at /tmp/box on a private
    /tmp; then every capability in the new namespace is dropped again. Any step failing
    raises, so a run never goes ahead less isolated than it was asked to be."""
    global SANDBOX

    def check(result, what):
        if result != 0:
            raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")

    uid, gid = os.getuid(), os.getgid()
    flags = 0x10000000 | 0x00020000 | 0x40000000 | 0x08000000 | 0x04000000  # USER NS NET IPC UTS
    check(libc.unshare(flags), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    box = SANDBOX.encode()
    check(libc.mount(None, b"/", None, 0x4000 | 0x40000, None), "private mounts")  # REC|PRIVATE
    check(libc.mount(box, box, None, 0x1000, None), "bind the run folder")  # MS_BIND
    for path, attr, recursive in (
        (b"/", MountAttr(1, 0, 0, 0), 0x8000),
        (box, MountAttr(0, 1, 0, 0), 0),
    ):
        # mount_setattr(AT_FDCWD, path, AT_RECURSIVE?, {set|clear MOUNT_ATTR_RDONLY})
        check(libc.syscall(442, -100, path, recursive, ctypes.byref(attr), 32), "read-only root")
    box_fd = os.open(SANDBOX, os.O_PATH)
    check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 2 | 4, b"size=64m,mode=1777"), "private /tmp")
    os.mkdir("/tmp/box", 0o700)
    check(libc.mount(f"/proc/self/fd/{box_fd}".encode(), b"/tmp/box", None, 0x1000, None), "box")
    os.close(box_fd)
    os.chdir("/tmp/box")
    SANDBOX = "/tmp/box"
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    check(libc.capset(header, (ctypes.c_uint32 * 6)()), "drop capabilities")
    return ["user+mount namespaces: read-only root, private /tmp", "network namespace"]


def isolate(limits):
    """Limits and privilege drop for this process and every child it forks."""
    mb = limits["memory_mb"] * 1024 * 1024
    limit(resource.RLIMIT_AS, mb)
    limit(resource.RLIMIT_DATA, mb)
    limit(resource.RLIMIT_FSIZE, limits["max_file_mb"] * 1024 * 1024)
    limit(resource.RLIMIT_NOFILE, 64)
    limit(resource.RLIMIT_CORE, 0)
    isolated = []
    libc = ctypes.CDLL(None, use_errno=True)
    if limits.get("namespaces"):
        isolated += enter_namespaces(libc)
    elif libc.unshare(0x40000000) == 0:  # CLONE_NEWNET: no interfaces (root, or inside bwrap)
        isolated.append("network namespace")
    if os.geteuid() == 0:  # never run submitted code as root
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        except OSError as exc:  # e.g. a user namespace mapping only uid 0: refuse, loudly
            raise SystemExit(
                f"cannot drop root to nobody here ({exc}); not running as root"
            ) from None
        isolated.append("uid nobody")
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG (after setuid, which clears it)
    return isolated


def inside(path):
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return real == SANDBOX or real.startswith(SANDBOX + os.sep)


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = frozenset({
    "os.remove", "os.unlink", "os.rmdir", "os.rename", "os.replace", "shutil.rmtree",
    "os.truncate", "os.chmod", "os.chown", "os.mkdir", "os.symlink", "os.link", "os.utime",
    "shutil.move", "shutil.copyfile", "os.chdir", "os.chroot", "os.mkfifo", "os.mknod",
})  # fmt: skip
PROCESS_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork", "os.forkpty",
    "os.spawn", "pty.spawn", "os.kill", "os.killpg", "os.startfile", "_posixsubprocess.fork_exec",
    "os.setuid", "os.setsid",
})  # fmt: skip
NET_EVENTS = frozenset({
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.__new__",
})  # fmt: skip
DENIED_SYMBOLS = frozenset({
    b"unlink", b"unlinkat", b"remove", b"rmdir", b"rename", b"renameat", b"renameat2",
    b"system", b"execve", b"execv", b"execvp", b"execl", b"fork", b"vfork", b"clone",
    b"socket", b"connect", b"kill", b"tgkill", b"killpg", b"truncate", b"ftruncate",
    b"chmod", b"fchmod", b"fchmodat", b"chown", b"fchown", b"open", b"open64", b"openat",
    b"openat64", b"creat", b"fopen", b"fopen64", b"freopen", b"syscall", b"ptrace",
    b"mount", b"umount", b"setuid", b"setsid", b"symlink", b"link", b"mkdir", b"mkdirat",
    b"dlopen", b"prctl", b"write", b"pwrite",
})  # fmt: skip


def audit(event, args):
    if event == "open":
        path, mode, flags = (list(args) + [None, None, 0])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS
        )
        if writing and isinstance(path, (str, bytes, os.PathLike)) and not inside(path):
            raise SandboxViolation(f"write outside the sandbox: {path}")
        if writing and mode is None and not os.path.isabs(os.fsdecode(path)):
            # os.open with a relative path: the event does not say which dir_fd it is under
            raise SandboxViolation(f"os.open of a relative path for writing: {path}")
    elif event in PATH_EVENTS:
        for arg in args[:2]:
            if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                raise SandboxViolation(f"{event} outside the sandbox: {arg}")
        if any(isinstance(a, int) and not isinstance(a, bool) for a in args[2:]):
            raise SandboxViolation(f"{event} with dir_fd is not allowed")
    elif event in PROCESS_EVENTS:
        raise SandboxViolation(f"{event} is not allowed")
    elif event in NET_EVENTS:
        raise SandboxViolation(f"network access ({event}) is not allowed")
    elif event == "ctypes.dlsym" and len(args) > 1:
        name = args[1] if isinstance(args[1], bytes) else str(args[1]).encode()
        if name in DENIED_SYMBOLS:
            raise SandboxViolation(f"ctypes access to {name.decode()} is not allowed")
    elif event == "ctypes.dlopen":
        raise SandboxViolation("loading a C library is not allowed")


def lock_down(limits):
    """The last step before solution code: no more processes, CPU limit, the hook."""
    limit(resource.RLIMIT_NPROC, 0)
    limit(resource.RLIMIT_CPU, limits["cpu_s"])
    sys.addaudithook(audit)
    sys.setrecursionlimit(10_000)


def failure_status(exc):
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, (SandboxViolation, PermissionError)):
        return "blocked"
    return "crash"


def describe(exc):
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[-400:]


class Replies:
    def __init__(self, fd):
        self.fd = fd

    def send(self, message):
        data = wire.dumps(message)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


# ---------------------------------------------------------------- stdio: a child per case


def run_stdio_child(code, setup, limits, stdin_fd, out_w, err_w, keep_closed):
    """In the forked child: wire up stdin/stdout/stderr, lock down, run the program."""
    for fd in keep_closed:
        with contextlib.suppress(OSError):
            os.close(fd)
    os.dup2(stdin_fd, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    status = 0
    try:
        lock_down(limits)
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        if setup:
            exec(compile(setup, "setup.py", "exec"), namespace)
        exec(compile(code, "solution.py", "exec"), namespace)
    except SystemExit:
        pass
    except BaseException as exc:  # noqa: BLE001 - the program's failure is its result
        status = {"memory": EXIT_MEMORY, "blocked": EXIT_BLOCKED}.get(
            failure_status(exc), EXIT_CRASH
        )
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def stdio_case(request, code, setup, limits, closed_in_child):
    stdin_fd = os.memfd_create("stdin")
    os.write(stdin_fd, request.get("stdin", "").encode())
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        run_stdio_child(
            code, setup, limits, stdin_fd, out_w, err_w, [*closed_in_child, out_r, err_r]
        )
    for fd in (stdin_fd, out_w, err_w):
        os.close(fd)
    out, err = bytearray(), bytearray()
    open_fds = {out_r: out, err_r: err}
    deadline = time.monotonic() + limits["per_test_timeout_s"]
    verdict = None
    with selectors.DefaultSelector() as sel:
        for fd in open_fds:
            sel.register(fd, selectors.EVENT_READ)
        while open_fds and verdict is None:
            left = deadline - time.monotonic()
            if left <= 0:
                verdict = "timeout"
                break
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    del open_fds[key.fd]
                    continue
                buffer = open_fds[key.fd]
                buffer += chunk
                if key.fd == err_r and len(buffer) > TAIL:
                    del buffer[:-TAIL]
                if len(out) > MAX_OUTPUT:
                    verdict = "output_limit"
    if verdict is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, wait_status = os.waitpid(pid, 0)
    os.close(out_r)
    os.close(err_r)
    exit_code = (
        -os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else os.WEXITSTATUS(wait_status)
    )
    return {
        "id": request.get("id"),
        "verdict": verdict,
        "exit": exit_code,
        "stdout": bytes(out[:MAX_OUTPUT]).decode("utf-8", "replace"),
        "stderr": bytes(err[-TAIL:]).decode("utf-8", "replace"),
    }


# ---------------------------------------------------------------- call: answer function calls


def resolve(namespace, name):
    target = namespace.get(name)
    if callable(target):
        return target
    solution = namespace.get("Solution")
    if isinstance(solution, type) and hasattr(solution, name):
        return getattr(solution(), name)
    raise NameError(f"the solution defines no {name}()")


def serve_calls(load, requests, replies):
    captured = io.StringIO()
    saved = sys.stdout, sys.stderr
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    lock_down(load["limits"])
    try:
        sys.stdout = sys.stderr = captured
        try:
            if load.get("setup"):
                exec(compile(load["setup"], "setup.py", "exec"), namespace)
            with contextlib.suppress(SystemExit):
                exec(compile(load["code"], "solution.py", "exec"), namespace)
        finally:
            sys.stdout, sys.stderr = saved
    except BaseException as exc:  # noqa: BLE001
        replies.send(
            {"ready": False, "status": failure_status(exc), "detail": describe(exc),
             "stdout": captured.getvalue()[-TAIL:]}
        )  # fmt: skip
        return
    names = sorted(
        n for n, v in namespace.items() if not n.startswith("__") and callable(v)
        and getattr(v, "__module__", None) in ("solution", None)
    )  # fmt: skip
    modules = {
        n: v.__name__ for n, v in namespace.items() if isinstance(v, types.ModuleType)
    }  # MBPP tests may use a module the solution imported (`math.isclose`)
    replies.send({"ready": True, "names": names, "modules": modules})
    for line in requests:
        request = wire.loads(line)
        captured = io.StringIO()
        sys.stdout = sys.stderr = captured
        try:
            fn = resolve(namespace, request["name"])
            args = wire.decode(request["args"])
            kwargs = wire.decode(request["kwargs"])
            value = wire.encode(fn(*args, **kwargs))
            reply = {"id": request["id"], "ok": True, "value": value}
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a call cannot end the run
            reply = {
                "id": request["id"],
                "ok": False,
                "status": failure_status(exc),
                "error": type(exc).__name__,
                "detail": describe(exc),
            }
        finally:
            sys.stdout, sys.stderr = saved
        reply["stdout"] = captured.getvalue()[-TAIL:]
        replies.send(reply)


def main():
    if sys.argv[1:] == ["--probe-namespaces"]:  # can this machine give us the namespaces?
        enter_namespaces(ctypes.CDLL(None, use_errno=True))
        open("/tmp/box/probe", "w").close()
        try:
            with open("/etc/acotd-probe", "w"):
                pass
        except OSError:
            return
        raise SystemExit("the root stayed writable")
    request_fd, reply_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)  # stray writes to fd 1 land in the stderr file, not in the replies
    os.close(null)
    requests = os.fdopen(request_fd, "rb")
    replies = Replies(reply_fd)
    load = wire.loads(requests.readline())
    if os.geteuid() == 0:  # only `nobody` may be unable to read the library afterwards
        for name in PRELOAD:
            with contextlib.suppress(ImportError):
                __import__(name)
    replies.send({"isolation": isolate(load["limits"])})
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if load["mode"] == "call":
        serve_calls(load, requests, replies)
        return
    for line in requests:
        request = wire.loads(line)
        replies.send(
            stdio_case(request, load["code"], load.get("setup"), load["limits"],
                       [request_fd, reply_fd])
        )  # fmt: skip


if __name__ == "__main__":
    main()
