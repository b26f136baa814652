// The peer of `just bench tools`: the official TypeScript MCP SDK (the one
// the reference server is built on) as a client, one persistent stdio
// session, `echo` called N times in a row. Prints one JSON line with each
// call's latency in ms.
//
// Usage: node mcp_peer.mjs <sdk-dir> <server-entry> <n>
const [sdk, entry, n] = process.argv.slice(2);
const { Client } = await import(`${sdk}/dist/esm/client/index.js`);
const { StdioClientTransport } = await import(`${sdk}/dist/esm/client/stdio.js`);

const client = new Client({ name: "chorus-bench-peer", version: "1.0.0" });
const started = performance.now();
await client.connect(new StdioClientTransport({ command: process.execPath, args: [entry, "stdio"], stderr: "ignore" }));
const connectMs = performance.now() - started;
const calls = [];
for (let i = 0; i < Number(n) + 3; i++) {
  const t = performance.now();
  const r = await client.callTool({ name: "echo", arguments: { message: `hello ${i}` } });
  if (r.content[0].text !== `Echo: hello ${i}`) throw new Error(JSON.stringify(r));
  if (i >= 3) calls.push(performance.now() - t);
}
await client.close();
console.log(JSON.stringify({ connect_ms: connectMs, calls_ms: calls }));
