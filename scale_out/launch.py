"""Launch scale_out/tf_multiworker.py as N MultiWorkerMirroredStrategy workers on this machine.

    python scale_out/launch.py --nproc 2 --config run/config.json [--ports 23456 23457]

What torchrun does for PyTorch, reduced to what TensorFlow needs: one process per worker, each
with a TF_CONFIG naming every worker's address (loopback, ports chosen free unless given) and its
own index; each worker's output in run/worker{i}.log. When a worker dies, the others are given
`--grace` seconds to notice (their collectives time out) and are then stopped, and the launch
fails naming the worker that died first: never a hang. On several machines, start
tf_multiworker.py yourself on each with the same cluster and its own index, e.g. worker 1 of 2:

    TF_CONFIG='{"cluster": {"worker": ["host0:23456", "host1:23456"]},
                "task": {"type": "worker", "index": 1}}' python scale_out/tf_multiworker.py ...
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).with_name("tf_multiworker.py")


def free_ports(n: int) -> list[int]:
    """n distinct loopback ports that nothing listens on now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def check_ports(ports: list[int]) -> None:
    """A clear error for a port another program holds (before any worker starts)."""
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise SystemExit(f"port {port} is in use on this machine: choose other --ports, "
                                 f"or leave --ports out to have free ones picked") from None


def describe(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="number of workers")
    parser.add_argument("--config", required=True, help="the run's JSON config")
    parser.add_argument("--ports", type=int, nargs="*", help="one port per worker")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
    parser.add_argument("--grace", type=float, default=30,
                        help="seconds the others get to stop after a worker dies")
    args = parser.parse_args(argv)
    if args.nproc < 1:
        raise SystemExit(f"--nproc must be at least 1, got {args.nproc}")
    if args.ports:
        if len(args.ports) != args.nproc:
            raise SystemExit(f"--ports needs one port per worker: {args.nproc}, "
                             f"got {len(args.ports)}")
        check_ports(args.ports)
    ports = args.ports or free_ports(args.nproc)
    run = Path(json.loads(Path(args.config).read_text())["run_dir"])
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers, logs = [], []
    for i in range(args.nproc):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": i}}))
        logs.append(open(run / f"worker{i}.log", "w"))  # noqa: SIM115 (closed below)
        workers.append(subprocess.Popen([sys.executable, str(SCRIPT), "--config", args.config],
                                        env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
    start, first_failure, stopped = time.monotonic(), None, set()

    def watch():  # the first failure, then how each survivor stopped
        nonlocal first_failure
        for i, w in enumerate(workers):
            if i in stopped or w.poll() is None:
                continue
            if first_failure is None and w.returncode != 0:
                first_failure = (i, w.returncode, time.monotonic())
                print(f"[launch] worker {i} {describe(w.returncode)}; the others have "
                      f"{args.grace:.0f} s to stop", flush=True)
            elif first_failure:
                print(f"[launch] worker {i} {describe(w.returncode)}, "
                      f"{time.monotonic() - first_failure[2]:.0f} s after worker "
                      f"{first_failure[0]}", flush=True)
            stopped.add(i)

    try:
        while any(w.poll() is None for w in workers):
            watch()
            now = time.monotonic()
            if first_failure and now - first_failure[2] > args.grace:
                break
            if now - start > args.timeout:
                print(f"[launch] the run took more than {args.timeout:.0f} s: stopping it",
                      flush=True)
                break
            time.sleep(0.2)
        watch()
    finally:
        for i, w in enumerate(workers):
            if w.poll() is None:
                w.kill()
                w.wait()
                print(f"[launch] worker {i} was still running: stopped", flush=True)
        for f in logs:
            f.close()
    if first_failure is None and any(w.returncode != 0 for w in workers):
        first_failure = next((i, w.returncode, 0) for i, w in enumerate(workers)
                             if w.returncode != 0)
    if first_failure:
        i, code, _ = first_failure
        tail = (run / f"worker{i}.log").read_text().strip().splitlines()[-3:]
        print(f"[launch] failed: worker {i} {describe(code)} (log: {run / f'worker{i}.log'})",
              *tail, sep="\n", file=sys.stderr)
        return 1
    print(f"[launch] {args.nproc} workers finished in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
