"""`just bench queue`, the Celery side: the same no-op jobs on the same Redis
(broker and result backend), one worker with the same concurrency (threads),
`clients` concurrent producers. Prints one JSON line like the Chorus driver.

Usage: celery_bench.py <redis-port> <jobs> <clients> <concurrency>
"""
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

port, jobs, clients, concurrency = (int(a) for a in sys.argv[1:5])
url = f"redis://127.0.0.1:{port}/0"
app = Celery("bench", broker=url, backend=url)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, result_expires=3600)


@app.task(name="noop")
def noop(enqueued_at):
    return time.time() - enqueued_at


if __name__ == "__main__":
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_bench", "worker", "-P", "threads",
         "-c", str(concurrency), "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=sys.path[0])
    try:
        app.control.ping(timeout=10)
        time.sleep(2)
        start = time.time()
        per_client = jobs // clients
        with ThreadPoolExecutor(clients) as pool:
            results = [r for batch in pool.map(lambda _: [noop.delay(time.time()) for _ in range(per_client)],
                                               range(clients)) for r in batch]
        submitted = time.time() - start
        waits = sorted(r.get(timeout=600) * 1000 for r in results)
        seconds = time.time() - start
        pct = lambda p: waits[round((len(waits) - 1) * p)]
        print(json.dumps({"system": "celery", "jobs": len(waits), "seconds": seconds, "jobs_per_s": len(waits) / seconds,
                          "submit_seconds": submitted, "latency_p50_ms": pct(0.5), "latency_p99_ms": pct(0.99)}))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
