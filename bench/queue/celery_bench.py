"""`just bench queue`, the Celery side: the same no-op jobs on the same Redis
(broker and result backend), one worker with the same concurrency (threads),
`clients` concurrent producers. Prints one JSON line like the Chorus driver.

Usage: celery_bench.py <redis-port> <jobs> <clients> <concurrency> [pace-ms]
With a pace, one producer sends a job every pace-ms (the latency run).
"""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

# The worker process imports this module too: it learns the URL from the
# environment, not from argv.
url = os.environ.setdefault("BENCH_REDIS_URL", f"redis://127.0.0.1:{sys.argv[1] if len(sys.argv) > 1 else 6379}/0")
app = Celery("bench", broker=url, backend=url)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, result_expires=3600)


@app.task(name="noop")
def noop(enqueued_at):
    return time.time() - enqueued_at


if __name__ == "__main__":
    port, jobs, clients, concurrency = (int(a) for a in sys.argv[1:5])
    pace = int(sys.argv[5]) / 1000 if len(sys.argv) > 5 else 0
    clients = 1 if pace else clients

    def produce(_):
        sent = []
        for _ in range(jobs // clients):
            sent.append(noop.delay(time.time()))
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
        waits = sorted(r.get(timeout=600) * 1000 for r in results)
        seconds = time.time() - start
        pct = lambda p: waits[round((len(waits) - 1) * p)]
        print(json.dumps({"system": "celery", "mode": "latency" if pace else "throughput", "jobs": len(waits), "seconds": seconds, "jobs_per_s": len(waits) / seconds,
                          "submit_seconds": submitted, "latency_p50_ms": pct(0.5), "latency_p99_ms": pct(0.99)}))
        code = 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        sys.stdout.flush()
        os._exit(code)  # skip interpreter teardown, where celery's result handles make noise
