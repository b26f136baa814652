// `just bench queue`, the BullMQ side: the same no-op jobs on the same
// Redis, one worker with the same concurrency, `clients` concurrent
// producers. Prints one JSON line like the Chorus driver.
//
// Usage: node bullmq.mjs <redis-port> <jobs> <clients> <concurrency> single|batch|latency [pace-ms]
// single: `queue.add` per job; batch: `queue.addBulk` with 1,000 jobs;
// latency: one producer adds a job every pace-ms.
import { Queue, Worker } from "bullmq";

const [redisPort, jobs, clientsArg, concurrency] = process.argv.slice(2, 6).map(Number);
const mode = process.argv[6];
const pace = Number(process.argv[7] || 0);
const clients = mode === "latency" ? 1 : clientsArg;
const BATCH = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const connection = { host: "127.0.0.1", port: redisPort };
const name = `bench-${mode}-${Date.now()}`;
const queue = new Queue(name, { connection });
const latencies = [];
let finished = 0;
let lastFinish = 0;
let resolveDone;
const done = new Promise((r) => (resolveDone = r));
const perClient = Math.floor(jobs / clients);
const total = perClient * clients;
const worker = new Worker(name, async (job) => { latencies.push(Date.now() - job.timestamp); return null; },
  { connection, concurrency, removeOnComplete: { count: total } });
worker.on("completed", () => { finished += 1; lastFinish = Date.now(); if (finished === total) resolveDone(); });
await worker.waitUntilReady();

const start = Date.now();
await Promise.all(Array.from({ length: clients }, async () => {
  for (let left = perClient; left > 0;) {
    if (mode === "batch") {
      const n = Math.min(BATCH, left);
      await queue.addBulk(Array.from({ length: n }, () => ({ name: "noop", data: {} })));
      left -= n;
    } else {
      await queue.add("noop", {});
      left -= 1;
      if (pace) await sleep(pace);
    }
  }
}));
const submitted = (Date.now() - start) / 1000;
await done;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.round((latencies.length - 1) * p)];
const seconds = (lastFinish - start) / 1000;
console.log(JSON.stringify({ system: "bullmq", mode, jobs: total, t0: start / 1000, t1: lastFinish / 1000, seconds,
  jobs_per_s: total / seconds, submit_seconds: submitted, submitted_per_s: total / submitted,
  latency_p50_ms: pct(0.5), latency_p99_ms: pct(0.99) }));
await worker.close(); await queue.obliterate({ force: true }); await queue.close();
process.exit(0);
