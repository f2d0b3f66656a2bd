/**
 * A bounded fuzz run over every route the server registers: arbitrary JSON bodies (shaped like
 * the route's resource, or anything at all), arbitrary and repeated query keys, arbitrary path
 * parameters, and every kind of caller (admin, member, reader, none, a bogus token). Asserted: no
 * 5xx, every error body in the format of the path's API (NeutronError under /v2.0 and
 * /neutrino, Keystone's under /identity), and `/healthz` answered within 100 ms throughout.
 * Fixed seed, so a failure replays; `bench/fuzz` runs the same generators for 50k+ requests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type FuzzTarget, fuzzRequest, isApiFormatted } from '../helpers/fuzz.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 4000);
const HEALTH_BUDGET_MS = 100;

for (const dialect of dialects()) {
  describe(`fuzz (${dialect})`, () => {
    let t: TestServer;
    let target: FuzzTarget;
    before(async () => {
      t = await startTestServer(dialect);
      const admin = client(t, t.adminToken);
      const member = await t.newProjectUser();
      const reader = await t.newProjectUser('reader');
      const spare = await t.server.services.identity.createProject({ name: 'fuzz-spare' });
      const net = (await admin.post('/v2.0/networks', { network: { name: 'fuzz' } })).body.network;
      const sub = (
        await admin.post('/v2.0/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr: '10.9.0.0/24' },
        })
      ).body.subnet;
      const port = (await admin.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
      const router = (await admin.post('/v2.0/routers', { router: { name: 'fuzz' } })).body.router;
      const sg = (await admin.post('/v2.0/security-groups', { security_group: { name: 'fuzz' } })).body
        .security_group;
      target = {
        routes: t.server.routes.filter((r) => r.url !== '/neutrino/v1/events'),
        tokens: [t.adminToken, member.token, reader.token, '', 'bogus'],
        subjects: [(await t.newProjectUser()).token, 'bogus'],
        // Not the callers' projects: deleting one would end the run's own tokens.
        ids: [net.id, sub.id, port.id, router.id, sg.id, spare.id],
        addresses: ['10.9.0.5', '10.9.0.0/24', '198.51.100.7'],
      };
      // The generators' first use costs seconds of compilation in this very event loop: not
      // the server's time, so spent before /healthz is watched.
      fc.sample(fuzzRequest(target), { numRuns: 50, seed: 1 });
    });
    after(() => t.close());

    it(`answers ${RUNS} arbitrary requests without a 5xx, in the API's format, staying live`, async () => {
      const healthTimes: number[] = [];
      let running = true;
      const health = (async () => {
        while (running) {
          const started = performance.now();
          const r = await t.server.app.inject({ method: 'GET', url: '/healthz' });
          healthTimes.push(performance.now() - started);
          assert.equal(r.statusCode, 200);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      try {
        // Every route gets its share: drawn at random, the rare ones would go untested.
        const perRoute = Math.ceil(RUNS / target.routes.length);
        for (const route of target.routes) {
          await fc.assert(
            fc.asyncProperty(fuzzRequest(target, route), async (req) => {
              const res = await t.server.app.inject(req);
              const where = `${req.method} ${req.url} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
              assert.ok(res.statusCode < 500, where);
              if (res.statusCode >= 400 && req.method !== 'HEAD')
                assert.ok(isApiFormatted(req.url, res.statusCode, res.body), where);
            }),
            { numRuns: perRoute, seed: 20261203, endOnFailure: true },
          );
        }
      } finally {
        running = false;
        await health;
      }
      // p99 within budget; the worst sample may also carry a busy machine's scheduling (the
      // suite runs files side by side), so it gets ten times that: a request that stalls the
      // event loop for a second (the quadratic allocation this suite was written after) fails.
      healthTimes.sort((a, b) => a - b);
      const p99 = healthTimes[Math.floor(healthTimes.length * 0.99)] ?? 0;
      const worst = healthTimes[healthTimes.length - 1] ?? 0;
      const summary = `/healthz p99 ${p99.toFixed(1)} ms, worst ${worst.toFixed(1)} ms of ${healthTimes.length}`;
      console.log(summary);
      assert.ok(p99 < HEALTH_BUDGET_MS && worst < 10 * HEALTH_BUDGET_MS, summary);
    });
  });
}
