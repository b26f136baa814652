"""CPU seconds of every process involved in `just bench queue`, from /proc.

Usage: cpu.py <out.jsonl> <stop-file>

Every 100 ms until <stop-file> exists, appends one line
{"t": epoch seconds, "cpu": {class: seconds}}: utime + stime of each live
process, plus cutime + cstime (its exited, reaped children: Postgres
backends that closed), summed by class. A process whose parent is not
counted (a producer started by the bench's shell) keeps its last sample
after it exits, since no counted parent reaps it. A run's CPU is the
difference of the samples around its window, so exited processes stay
counted and nothing is counted twice.
"""
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
# Process name (comm, or the script a Python runs) → class in the report.
CLASSES = {
    "postgres": "postgres",
    "redis-server": "redis",
    "chorus-api": "chorus api",
    "chorus-worker": "chorus worker",
    "bench_queue": "chorus client",
    "node": "bullmq (node)",
    "celery": "celery",
}


def classify(pid, comm):
    if not comm.startswith("python"):
        return CLASSES.get(comm)
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return None
    return "celery" if b"celery" in cmd else None


def processes():
    """pid → (class, ticks of it and its reaped children, ppid) of every counted process."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        name = classify(pid, comm)
        if name is None:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[1] is the ppid; fields[11..14] are utime, stime, cutime,
        # cstime (stat fields 4 and 14-17).
        found[pid] = (name, sum(int(f) for f in fields[11:15]) / TICK, fields[1])
    return found


class Sampler:
    def __init__(self):
        self.last = {}
        self.exited = {}

    def sample(self):
        now = processes()
        for pid, (name, secs, ppid) in self.last.items():
            # Gone, and no counted parent will add it to its cutime.
            if pid not in now and ppid not in self.last:
                self.exited[name] = self.exited.get(name, 0) + secs
        self.last = now
        totals = dict(self.exited)
        for name, secs, _ in now.values():
            totals[name] = totals.get(name, 0) + secs
        return totals


if __name__ == "__main__":
    out, stop = sys.argv[1], sys.argv[2]
    sampler = Sampler()
    with open(out, "a") as f:
        while not os.path.exists(stop):
            f.write(json.dumps({"t": time.time(), "cpu": sampler.sample()}) + "\n")
            f.flush()
            time.sleep(0.1)
