"""CPU seconds of every process involved in `just bench queue`, from /proc.

Usage: cpu.py <out.jsonl> <stop-file>

Every 100 ms until <stop-file> exists, appends one line
{"t": epoch seconds, "cpu": {class: seconds}}: utime + stime of each live
process, plus cutime + cstime (its exited, reaped children: Postgres
backends that closed), summed by class. A run's CPU is the difference of
the samples around its window, so exited processes stay counted and
nothing is counted twice.
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


def sample():
    totals = {}
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
        # fields[11..14] are utime, stime, cutime, cstime (stat fields 14-17).
        ticks = sum(int(f) for f in fields[11:15])
        totals[name] = totals.get(name, 0) + ticks / TICK
    return totals


if __name__ == "__main__":
    out, stop = sys.argv[1], sys.argv[2]
    with open(out, "a") as f:
        while not os.path.exists(stop):
            f.write(json.dumps({"t": time.time(), "cpu": sample()}) + "\n")
            f.flush()
            time.sleep(0.1)
