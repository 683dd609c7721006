#!/usr/bin/env python3
"""A warm Lightning Python for the tests: `warm_lightning.py SCRIPT ARGS...` runs the script as
`$LTGEN_LIGHTNING_PYTHON SCRIPT ARGS...` would, in a process forked from a server that imported
torch and Lightning once. Importing Lightning takes about 3.5 s on CI's machine, more than most
Lightning runs of the parity tests; forked, a run starts in milliseconds.

  warm_lightning.py --start   start the server (the lightning_server fixture's setup test)
  warm_lightning.py --stop    stop it (its cleanup test)
  warm_lightning.py --serve   the server itself (run under the Lightning Python by --start)

The run is the same as a fresh interpreter's: the script's argv, working directory, environment and
standard streams are the caller's; it runs as __main__ with sys.path[0] its folder; Python's and
NumPy's and torch's global generators are reseeded from the OS, as a fresh start seeds them; exit
status and signals come back. The
server refuses (and the client runs the Lightning Python itself) where the caller's environment
differs from the server's in a variable read while importing (OMP_*, OPENBLAS_*, ...), or the
first argument is not a script. Forking is safe only while the server has no thread but OpenBLAS's
and no CUDA context: it checks both after its imports and refuses to start otherwise.

Environment: LTGEN_LIGHTNING_PYTHON, the Lightning venv's python (required);
LTGEN_LIGHTNING_SERVER, the server's name (an abstract Unix socket; unset: no server)."""
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

# Variables that torch, its BLAS and OpenMP, NumPy or Python read at start or import: a run whose
# values differ is not the server's to fork.
IMPORT_TIME_PREFIXES = ("OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "GOTO", "BLIS_", "TORCH", "PYTORCH", "CUDA",
                        "NVIDIA", "LD_", "PYTHON", "PL_", "LIGHTNING", "NUMPY", "NPY_", "TF_", "MALLOC_")
IDLE_EXIT_S = 1800  # a server whose fixture never ended (a killed ctest) does not outlive it by long


def import_time_env(env):
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES)}


def address(name):
    return "\0" + name  # Linux's abstract namespace: no file to clean up, no path length limit


def send_message(sock, obj, fds=()):
    data = json.dumps(obj).encode()
    data = struct.pack("!I", len(data)) + data
    sent = socket.send_fds(sock, [data], list(fds)) if fds else 0
    if sent < len(data):
        sock.sendall(data[sent:])


def receive_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def receive_message(sock, max_fds=0):
    fds = []
    if max_fds:
        head, fds, _, _ = socket.recv_fds(sock, 4, max_fds)
        if len(head) < 4:
            rest = receive_exactly(sock, 4 - len(head))
            head = None if not head or rest is None else head + rest
    else:
        head = receive_exactly(sock, 4)
    if not head:
        return None, fds
    body = receive_exactly(sock, struct.unpack("!I", head)[0])
    return (None if body is None else json.loads(body)), fds


def connect(name, timeout=None):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address(name))
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    return sock


# The client.

def run_client(argv):
    real = os.environ.get("LTGEN_LIGHTNING_PYTHON")
    if not real:
        sys.exit("warm_lightning.py: LTGEN_LIGHTNING_PYTHON is not set (the Lightning venv's python; "
                 "tests/e2e/CMakeLists.txt sets it)")
    name = os.environ.get("LTGEN_LIGHTNING_SERVER")
    sock = connect(name) if name and argv and argv[0].endswith(".py") and os.path.isfile(argv[0]) else None
    if sock is not None:
        try:
            send_message(sock, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}, fds=(0, 1, 2))
            answer, _ = receive_message(sock)
        except OSError:  # the server went away before it took the run: run it here
            answer = None
        if answer and answer.get("accepted"):
            # A SIGTERM (run_ending_all's timeout) closes the connection: the server then kills the run.
            signal.signal(signal.SIGTERM, lambda *_: os._exit(128 + signal.SIGTERM))
            end, _ = receive_message(sock)
            if end is None:
                sys.exit("warm_lightning.py: the server closed the connection before the script ended")
            if "signal" in end:
                signal.signal(end["signal"], signal.SIG_DFL)
                os.kill(os.getpid(), end["signal"])
            sys.exit(end["status"])
        sock.close()  # refused: run it here
    os.execv(real, [real] + argv)


# The server.

def serve(name):
    before = dict(os.environ)
    server_env = import_time_env(before)
    # What `ltgen --emit lightning` scripts import (generator/emit_lightning.cpp).
    import argparse, fnmatch, gzip, math  # noqa: E401,F401
    import numpy  # noqa: F401
    # NumPy's OpenBLAS starts its thread pool on import; it stops it before a fork and starts it
    # again in the child (its pthread_atfork handlers). Any other thread could hold a lock forever.
    blas_threads = len(os.listdir("/proc/self/task"))
    import torch
    import torch.nn  # noqa: F401
    import torch.utils.data  # noqa: F401
    import lightning.pytorch  # noqa: F401
    import lightning.pytorch.callbacks, lightning.pytorch.loggers, lightning.pytorch.profilers  # noqa: E401,F401
    import torchmetrics, torchmetrics.functional  # noqa: E401,F401
    import safetensors.torch  # noqa: F401

    threads = len(os.listdir("/proc/self/task"))
    if threads != blas_threads:
        sys.exit(f"warm_lightning.py: {threads - blas_threads} threads started while importing torch and Lightning: "
                 "a fork would leave them behind")
    if torch.cuda.is_initialized():
        sys.exit("warm_lightning.py: importing Lightning made a CUDA context, which a fork cannot keep")
    # What the imports set (torch's TORCHINDUCTOR_CACHE_DIR, Lightning's PYTORCH_NVML_BASED_CUDA_CHECK)
    # they set in a fresh interpreter too: a run gets them over its caller's environment.
    imports_set = {k: v for k, v in os.environ.items() if before.get(k) != v}

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address(name))
    listener.listen(64)
    print(f"serving as @{name} (pid {os.getpid()})", flush=True)
    last = time.time()
    while True:
        while True:  # reap finished handlers
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        ready, _, _ = select.select([listener], [], [], 60)
        if not ready:
            if time.time() - last > IDLE_EXIT_S:
                print("idle: exiting", flush=True)
                return
            continue
        conn, _ = listener.accept()
        last = time.time()
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            try:
                job = handle(conn, server_env, imports_set)
            except BaseException:
                sys.excepthook(*sys.exc_info())
                os._exit(1)
            if job is None:
                os._exit(0)
            return job  # in the run's process: __main__ runs it, outside the server's frames
        conn.close()


def handle(conn, server_env, imports_set):
    """In a process of its own: reads a request, forks the run and waits for it or the caller.
    Returns the run's request and streams in the run's process, None in the handler's."""
    request, fds = receive_message(conn, max_fds=3)
    if request is None:
        return
    if request.get("stop"):
        send_message(conn, {"stopping": True})
        os.kill(os.getppid(), signal.SIGTERM)
        return
    if request.get("ping"):
        send_message(conn, {"pong": True})
        return
    differs = sorted(k for k in set(server_env) | set(import_time_env(request["env"]))
                     if server_env.get(k) != request["env"].get(k))
    if differs or len(fds) != 3:
        send_message(conn, {"accepted": False, "why": f"the environment differs in {differs}" if differs else "no streams"})
        return
    send_message(conn, {"accepted": True})
    pid = os.fork()
    if pid == 0:
        conn.close()
        return {**request, "env": {**request["env"], **imports_set}}, fds
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([conn, pidfd], [], [])
    if pidfd not in ready:  # the caller went away (killed on a timeout): so does the run
        os.killpg(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    try:
        if os.WIFSIGNALED(status):
            send_message(conn, {"signal": os.WTERMSIG(status)})
        else:
            send_message(conn, {"status": os.WEXITSTATUS(status)})
    except OSError:
        pass
    return None


def run_script(request, fds):
    import atexit
    import gc
    import random
    import runpy
    import threading
    import numpy as np
    import torch

    os.setsid()  # its own process group: the handler ends it and its DDP workers together
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for sig in (signal.SIGTERM, signal.SIGCHLD):  # SIGPIPE stays ignored, as Python starts
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    script = request["argv"][0]
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    random.seed()
    np.random.seed()
    torch.seed()
    status = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        status = e.code
    except BaseException:
        sys.excepthook(*sys.exc_info())
        status = 1
    if status is not None and not isinstance(status, int):
        print(status, file=sys.stderr)
        status = 1
    # The interpreter's exit, less tearing down the modules imported before the fork (most of a
    # second, and theirs to do in no fresh interpreter either): it waits for the threads, runs the
    # atexit functions, finalizes what the script left, and flushes the streams.
    threading._shutdown()
    atexit._run_exitfuncs()
    gc.collect()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status or 0)


# Starting and stopping (the fixture's tests).

def start(name):
    real = os.environ.get("LTGEN_LIGHTNING_PYTHON")
    if not real or not name:
        sys.exit("warm_lightning.py --start: set LTGEN_LIGHTNING_PYTHON and LTGEN_LIGHTNING_SERVER")
    stop(name)
    log_path = os.path.join(os.environ.get("LTGEN_LIGHTNING_SERVER_LOG", "/tmp"), f"{name}.log")
    with open(log_path, "w") as log:
        # Its own session and none of ctest's pipes: ctest would wait for a process holding them.
        proc = subprocess.Popen([real, os.path.abspath(__file__), "--serve"], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < 180:
        if proc.poll() is not None:
            sys.exit(f"warm_lightning.py: the server exited with {proc.returncode}:\n{open(log_path).read()}")
        sock = connect(name, timeout=5)
        if sock is not None:
            send_message(sock, {"ping": True})
            answer, _ = receive_message(sock)
            sock.close()
            if answer and answer.get("pong"):
                print(f"warm_lightning.py: the server (pid {proc.pid}) answers after {time.time() - t0:.1f}s; "
                      f"its log: {log_path}")
                return
        time.sleep(0.2)
    proc.kill()
    sys.exit(f"warm_lightning.py: the server did not answer in 180 s:\n{open(log_path).read()}")


def stop(name):
    sock = connect(name, timeout=5)
    if sock is None:
        return
    send_message(sock, {"stop": True})
    receive_message(sock)
    sock.close()
    for _ in range(100):  # until the name is free
        sock = connect(name, timeout=1)
        if sock is None:
            return
        sock.close()
        time.sleep(0.1)
    sys.exit(f"warm_lightning.py: the server @{name} did not stop")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        job = serve(os.environ["LTGEN_LIGHTNING_SERVER"])
        if job is not None:
            run_script(*job)
    elif sys.argv[1:2] == ["--start"]:
        start(os.environ.get("LTGEN_LIGHTNING_SERVER"))
    elif sys.argv[1:2] == ["--stop"]:
        stop(os.environ.get("LTGEN_LIGHTNING_SERVER", ""))
    else:
        run_client(sys.argv[1:])
