"""Writes bench/results/tools.md from the peer's and bench_tools's JSON lines."""
import json
import os
import platform
import sys

peer = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
ours = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())


def pct(values, p):
    v = sorted(values)
    return v[round((len(v) - 1) * p)]


p50, p99 = pct(peer["calls_ms"], 0.5), pct(peer["calls_ms"], 0.99)
rows = [
    ("Chorus MCP client (rmcp), open session", ours["client"]),
    ("Chorus `POST …/invoke?wait=` (job + open session)", ours["invoke"]),
]
lines = [
    "# Tools benchmark: an MCP call through Chorus",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), shared and noisy; one run, {ours['n']} sequential calls per",
    "row after 3 warm-ups; the rows ran one after the other, not interleaved.",
    "Server: npm `@modelcontextprotocol/server-everything` over stdio (Node.js), tool `echo`.",
    "Peer: the official TypeScript SDK client (the one the server is built on), one persistent session;",
    f"connecting it once took {peer['connect_ms']:.0f} ms, not counted in its calls.",
    "Chorus keeps one open session per server configuration in the worker (dropped on failure or",
    f"timeout, closed when idle); its first call, which starts the server, took {ours['first_call_ms']:.0f} ms and is",
    "not counted. The invoke row adds the job hop (HTTP, Postgres, dispatch through Redis, a worker,",
    "the execution log).",
    "",
    "| path | p50 ms | p99 ms | p50 ratio (÷ peer) | p99 ratio (÷ peer) |",
    "|---|---|---|---|---|",
    f"| peer: TS SDK, persistent session | {p50:.1f} | {p99:.1f} | ×1.00 | ×1.00 |",
] + [
    f"| {name} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | ×{r['p50_ms'] / p50:.2f} | ×{r['p99_ms'] / p99:.2f} |"
    for name, r in rows
] + [
    "",
    "The first two rows compare the two SDKs' clients on an open session; the gap between the second",
    "and third rows is what running a call as a logged job costs.",
]
open(sys.argv[3], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
