// `just bench queue`, the BullMQ side: the same no-op jobs on the same
// Redis, one worker with the same concurrency, `clients` concurrent
// producers. Prints one JSON line like the Chorus driver.
import { Queue, Worker, QueueEvents } from "bullmq";

// Usage: node bullmq.mjs <redis-port> <jobs> <clients> <concurrency> [pace-ms]
// With a pace, one producer adds a job every pace-ms (the latency run).
const [redisPort, jobs, clientsArg, concurrency, pace] = process.argv.slice(2).map(Number);
const clients = pace ? 1 : clientsArg;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const connection = { host: "127.0.0.1", port: redisPort };
const name = `bench-${Date.now()}`;
const queue = new Queue(name, { connection });
const latencies = [];
let finished = 0;
let lastFinish = 0;
let resolveDone;
const done = new Promise((r) => (resolveDone = r));
const worker = new Worker(name, async (job) => { latencies.push(Date.now() - job.timestamp); return null; },
  { connection, concurrency, removeOnComplete: { count: jobs } });
worker.on("completed", () => { finished += 1; lastFinish = Date.now(); if (finished === jobs) resolveDone(); });
await worker.waitUntilReady();

const start = Date.now();
const perClient = Math.floor(jobs / clients);
await Promise.all(Array.from({ length: clients }, async () => {
  for (let i = 0; i < perClient; i++) { await queue.add("noop", {}); if (pace) await sleep(pace); }
}));
const submitted = (Date.now() - start) / 1000;
await done;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.round((latencies.length - 1) * p)];
const seconds = (lastFinish - start) / 1000;
console.log(JSON.stringify({ system: "bullmq", mode: pace ? "latency" : "throughput", jobs, seconds, jobs_per_s: jobs / seconds, submit_seconds: submitted,
  latency_p50_ms: pct(0.5), latency_p99_ms: pct(0.99) }));
await worker.close(); await queue.obliterate({ force: true }); await queue.close();
process.exit(0);
