"""`just bench queue`, the Celery side: the same no-op jobs on the same Redis
(broker and result backend), one worker with the same concurrency (threads),
`clients` concurrent producers. Prints one JSON line like the Chorus driver.

Usage: celery_bench.py <redis-port> <jobs> <clients> <concurrency> single|batch|latency [pace-ms]
single: `.delay()` per job; batch: `group(...).apply_async()` of 1,000
jobs; latency: one producer sends a job every pace-ms.
"""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from celery import Celery, group

# The worker process imports this module too: it learns the URL from the
# environment, not from argv.
url = os.environ.setdefault("BENCH_REDIS_URL", f"redis://127.0.0.1:{sys.argv[1] if len(sys.argv) > 1 else 6379}/0")
app = Celery("bench", broker=url, backend=url)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, result_expires=3600)
BATCH = 1000


@app.task(name="noop")
def noop(enqueued_at):
    """Returns when it started, so the producer reads enqueue→start."""
    return [enqueued_at, time.time()]


if __name__ == "__main__":
    port, jobs, clients, concurrency = (int(a) for a in sys.argv[1:5])
    mode = sys.argv[5]
    pace = int(sys.argv[6]) / 1000 if mode == "latency" else 0
    clients = 1 if mode == "latency" else clients

    def produce(_):
        sent, left = [], jobs // clients
        while left > 0:
            if mode == "batch":
                n = min(BATCH, left)
                now = time.time()
                sent.extend(group(noop.s(now) for _ in range(n)).apply_async().results)
                left -= n
            else:
                sent.append(noop.delay(time.time()))
                left -= 1
                time.sleep(pace)
        return sent

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_bench", "worker", "-P", "threads",
         "-c", str(concurrency), "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=sys.path[0], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = 1
    try:
        app.control.ping(timeout=10)
        time.sleep(2)
        start = time.time()
        with ThreadPoolExecutor(clients) as pool:
            results = [r for batch in pool.map(produce, range(clients)) for r in batch]
        submitted = time.time() - start
        # The results say when each job started; the last start bounds the
        # run (a no-op ends as it starts).
        spans = [r.get(timeout=1800) for r in results]
        end = max(s for _, s in spans)
        waits = sorted((s - e) * 1000 for e, s in spans)
        seconds = end - start
        pct = lambda p: waits[round((len(waits) - 1) * p)]
        print(json.dumps({"system": "celery", "mode": mode, "jobs": len(waits), "t0": start, "t1": end, "seconds": seconds,
                          "jobs_per_s": len(waits) / seconds, "submit_seconds": submitted, "submitted_per_s": len(waits) / submitted,
                          "latency_p50_ms": pct(0.5), "latency_p99_ms": pct(0.99)}))
        code = 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        sys.stdout.flush()
        os._exit(code)  # skip interpreter teardown, where celery's result handles make noise
