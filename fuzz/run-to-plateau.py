#!/usr/bin/env python3
"""Run built libFuzzer targets until their edge coverage plateaus.

Each target runs from its corpus (`corpus/<target>`, which it also grows,
created when missing) and the committed seeds (`seeds/<target>`, read only)
with the flags of README.md ("Running", "Pass 6"), niced, `--slots` at a
time. A target is stopped with SIGTERM (libFuzzer then prints its final
stats) by the first of:

- plateau: libFuzzer's `cov` (edges) has not grown for `--plateau` seconds
  (and the run is at least that long);
- time: the run reached `--max` seconds;
- deadline: the wall clock reached `--deadline` (no target starts within
  5 minutes of it).

A run that ends by itself (a crash, a failed assertion, an oversized
allocation: libFuzzer writes the input to `artifacts/<target>/`) is
reported as `exited <code>`. One JSON line per target goes to stdout and to
`--results`: executions, seconds, cov/ft at start and end, the seconds of
the last coverage gains, and the edges gained in the last `--plateau`
seconds. Full libFuzzer output is in `--logs/<target>.log`.

Run from this directory, e.g. (README.md, "Pass 7"):

    ./run-to-plateau.py --bin "$CARGO_TARGET_DIR"/x86_64-unknown-linux-gnu/release \\
        --deadline 23:35 nats_headers http_server env_config
"""

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import time

STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)")
EXECUTED = "stat::number_of_executed_units:"


class Run:
    def __init__(self, args, target):
        self.target = target
        os.makedirs(f"artifacts/{target}", exist_ok=True)
        os.makedirs(f"corpus/{target}", exist_ok=True)
        self.log = open(os.path.join(args.logs, f"{target}.log"), "w")
        cmd = [
            "nice", "-n", "19", os.path.join(args.bin, target),
            f"-artifact_prefix=artifacts/{target}/",
            "-max_total_time=1000000", "-print_final_stats=1",
            "-rss_limit_mb=2048", "-malloc_limit_mb=512", "-timeout=10",
            "-len_control=0", *args.extra, f"corpus/{target}", f"seeds/{target}",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.set_blocking(self.proc.stderr.fileno(), False)
        self.t0 = self.last_gain = time.time()
        self.cov0 = self.ft0 = self.cov = self.ft = None
        self.status_execs = 0
        self.final_execs = None
        self.gains = []  # (second of the run, cov reached)
        self.stop = None
        self.stopped_at = None
        self.pending = ""

    def read(self, now):
        try:
            chunk = os.read(self.proc.stderr.fileno(), 1 << 20).decode("utf-8", "replace")
        except BlockingIOError:
            return
        if not chunk:
            return
        self.log.write(chunk)
        self.log.flush()
        *lines, self.pending = (self.pending + chunk).split("\n")
        for line in lines:
            if line.startswith(EXECUTED):
                self.final_execs = int(line.split(":")[-1])
                continue
            m = STATUS.match(line)
            if not m:
                continue
            execs, kind, cov, ft = int(m[1]), m[2], int(m[3]), int(m[4])
            self.status_execs = execs
            if self.cov0 is None and kind == "INITED":
                self.cov0, self.ft0 = cov, ft
            if self.cov is not None and cov > self.cov:
                self.last_gain = now
                self.gains.append((round(now - self.t0), cov))
            self.cov, self.ft = cov, ft

    def result(self, now, window):
        elapsed = now - self.t0
        before_window = [c for s, c in self.gains if s < elapsed - window]
        return {
            "target": self.target,
            "stop": self.stop,
            "seconds": round(elapsed),
            "execs": self.final_execs if self.final_execs is not None else self.status_execs,
            "cov0": self.cov0,
            "cov": self.cov,
            "ft0": self.ft0,
            "ft": self.ft,
            "since_gain": round(now - self.last_gain),
            "gains": self.gains[-20:],
            "edges_last_window": (self.cov or 0) - max(before_window + [self.cov0 or 0]),
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="directory of the built targets")
    ap.add_argument("--slots", type=int, default=2, help="targets at a time")
    ap.add_argument("--plateau", type=float, default=600, help="seconds without a new edge")
    ap.add_argument("--max", type=float, default=1800, help="seconds per target at most")
    ap.add_argument("--deadline", help="HH:MM (local time, the next one to come) to stop everything")
    ap.add_argument("--extra", default="", help="more libFuzzer flags, space-separated")
    ap.add_argument("--logs", default="plateau-logs")
    ap.add_argument("--results", default="plateau-results.jsonl")
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args()
    args.extra = args.extra.split()
    os.makedirs(args.logs, exist_ok=True)
    deadline = float("inf")
    if args.deadline:
        hh, mm = map(int, args.deadline.split(":"))
        now = datetime.datetime.now()
        at = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if at <= now:  # already past today: the next day's
            at += datetime.timedelta(days=1)
        deadline = at.timestamp()

    queue, running = list(args.targets), []
    while queue or running:
        while queue and len(running) < args.slots and time.time() < deadline - 300:
            running.append(Run(args, queue.pop(0)))
            print(time.strftime("%H:%M:%S"), "start", running[-1].target, flush=True)
        if not running:
            break
        time.sleep(0.2)
        now = time.time()
        for run in list(running):
            run.read(now)
            elapsed = now - run.t0
            if run.proc.poll() is not None:
                run.stop = run.stop or f"exited {run.proc.returncode}"
            elif run.stop is None:
                if run.cov0 is not None and elapsed >= args.plateau and now - run.last_gain >= args.plateau:
                    run.stop = "plateau"
                elif elapsed >= args.max:
                    run.stop = "time"
                elif now >= deadline:
                    run.stop = "deadline"
                if run.stop:
                    run.proc.send_signal(signal.SIGTERM)
                    run.stopped_at = now
            if run.proc.poll() is None and run.stopped_at and now - run.stopped_at > 30:
                run.proc.kill()
            if run.proc.poll() is not None:
                run.read(now)
                run.log.close()
                res = run.result(now, args.plateau)
                print(time.strftime("%H:%M:%S"), json.dumps(res), flush=True)
                with open(args.results, "a") as f:
                    f.write(json.dumps(res) + "\n")
                running.remove(run)


if __name__ == "__main__":
    main()
