// A small HTTP load generator run inside an instance's namespace by bench/services/lb.ts:
//   node http-load.mjs URL CONCURRENCY SECONDS keepalive|close
// GETs URL from CONCURRENCY loops until SECONDS are up and prints one JSON line: requests,
// errors, requests per second and how many answers each body (a member's name) gave.
import http from 'node:http';

const [url, concurrency, seconds, mode] = process.argv.slice(2);
const keepAlive = mode === 'keepalive';
const agent = new http.Agent({ keepAlive, maxSockets: Number(concurrency) });
const deadline = performance.now() + Number(seconds) * 1000;
let requests = 0;
let errors = 0;
const bodies = {};

function get() {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers: keepAlive ? {} : { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => {
        if (res.statusCode === 200) {
          requests++;
          const key = body.trim();
          bodies[key] = (bodies[key] ?? 0) + 1;
        } else errors++;
        resolve();
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      errors++;
      resolve();
    });
  });
}

const started = performance.now();
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (performance.now() < deadline) await get();
  }),
);
const elapsed = (performance.now() - started) / 1000;
agent.destroy();
console.log(JSON.stringify({ requests, errors, rps: Math.round(requests / elapsed), bodies }));
