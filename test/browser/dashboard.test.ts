/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core against a real
 * `neutrino up` (root, real namespaces). A member logs in and builds a small topology through
 * the forms (a network with its subnet, a router with a gateway and an interface, two instances,
 * a floating IP); the topology shows every object with its address, follows changes made
 * elsewhere without a reload (instances becoming ACTIVE, a port set administratively down, a
 * network created and deleted through the API), refuses an invalid CIDR with the API's message
 * next to the field, opens details from the keyboard, switches projects, traces a packet between
 * the two instances and shows their reachability matrix (icmp allowed both ways); then
 * everything is deleted through the page and its namespaces are gone.
 * An admin then looks at ~250 objects: the
 * time until that topology is rendered and interactive is measured (performance marks in the app)
 * with the bundle's size. Screenshots go to test-artifacts/; with NEUTRINO_WRITE_BENCH=1 the
 * numbers also go to bench/web/results.json.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { Session } from '../../src/client/session.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { listNamespaces } from '../../src/linux/ip.js';
import { NeutrinoUp, ownedObjects } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until } from '../helpers/until.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WEB_SRC = join(ROOT, 'web');
const WEB_DIST = join(ROOT, 'dist', 'web');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const INSTANCES = '/neutrino/v1/instances';
const isRoot = process.getuid?.() === 0;

const skip = !isRoot
  ? 'needs root (the data plane)'
  : !existsSync(CHROMIUM)
    ? `needs ${CHROMIUM} (Debian's chromium package; scripts/install-deps.sh --test installs it)`
    : false;

interface FixedIp {
  subnet_id: string;
  ip_address: string;
}
interface Port {
  id: string;
  status: string;
  admin_state_up: boolean;
  fixed_ips: FixedIp[];
}
interface Instance {
  id: string;
  name: string;
  status: string;
  ports: Port[];
}

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds the dashboard when dist/web is missing or older than web/, so the page under test is current. */
async function buildDashboard(): Promise<void> {
  const index = join(WEB_DIST, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newest(WEB_SRC)) return;
  const { build } = await import('vite');
  await build({ root: WEB_SRC, logLevel: 'warn', configFile: join(WEB_SRC, 'vite.config.ts') });
}

/** The bundle's files: bytes raw and gzipped (zlib's default level, as servers send it). */
function bundleSizes() {
  const assets = join(WEB_DIST, 'assets');
  const files = readdirSync(assets)
    .filter((f) => /\.(js|css)$/.test(f))
    .map((f) => {
      const data = readFileSync(join(assets, f));
      return { file: f, bytes: data.length, gzipBytes: gzipSync(data).length };
    })
    .sort((a, b) => b.bytes - a.bytes);
  const sum = (list: typeof files, k: 'bytes' | 'gzipBytes') => list.reduce((n, f) => n + f[k], 0);
  const initial = files.filter((f) => !f.file.startsWith('elk'));
  return {
    files,
    total: { bytes: sum(files, 'bytes'), gzipBytes: sum(files, 'gzipBytes') },
    beforeLogin: { bytes: sum(initial, 'bytes'), gzipBytes: sum(initial, 'gzipBytes') },
  };
}

const launch = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    // Playwright gives every launch a fresh, empty profile (user-data dir) of its own.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });

/** The app's performance marks (ms since navigation start), by name. */
async function marks(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() =>
    Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, Math.round(m.startTime)])),
  );
}

async function waitInteractive(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.waitForFunction(
    () => performance.getEntriesByName('neutrino:topology-interactive').length > 0,
    undefined,
    { timeout: timeoutMs },
  );
}

async function login(page: Page, url: string, user: string, password: string, project: string) {
  await page.goto(`${url}/`);
  await page.locator('#login-user').fill(user);
  await page.locator('#login-password').fill(password);
  await page.locator('#login-project').fill(project);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Views' }).waitFor();
}

const object = (page: Page, kind: string, id: string) => page.locator(`[data-object="${kind}:${id}"]`);

describe('dashboard in Chromium against neutrino up', { skip }, () => {
  const outside = new Outside('198.51.100.254/24');
  const up = new NeutrinoUp({
    resyncIntervalS: 2,
    physicalInterfaceMappings: { public: outside.bridge },
    args: ['--no-external-network'],
  });
  const password = 'alice-secret-1';
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let alice: Session;
  let externalId: string;
  let demoId: string;
  let webId: string;
  let routerId: string;
  let fipId: string;
  let vms: Instance[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await buildDashboard();
    await outside.create();
    await up.start();
    const admin = up.session;
    const { network } = await admin.post<{ network: { id: string } }>('/v2.0/networks', {
      network: {
        name: 'public',
        'router:external': true,
        'provider:network_type': 'flat',
        'provider:physical_network': 'public',
      },
    });
    externalId = network.id;
    await admin.post('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 4,
        cidr: '198.51.100.0/24',
        gateway_ip: '198.51.100.254',
        allocation_pools: [{ start: '198.51.100.10', end: '198.51.100.100' }],
        enable_dhcp: false,
      },
    });
    const project = async (name: string) =>
      (await admin.post<{ project: { id: string } }>('/identity/v3/projects', { project: { name } })).project
        .id;
    const demo = await project('demo');
    demoId = demo;
    const demo2 = await project('demo2');
    const { user } = await admin.post<{ user: { id: string } }>('/identity/v3/users', {
      user: { name: 'alice', password, default_project_id: demo },
    });
    const { roles } = await admin.get<{ roles: { id: string }[] }>('/identity/v3/roles?name=member');
    for (const p of [demo, demo2])
      await admin.put(`/identity/v3/projects/${p}/users/${user.id}/roles/${roles[0].id}`);
    alice = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${up.url}/identity/v3`,
          username: 'alice',
          password,
          projectName: 'demo',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
    browser = await launch();
    context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'light' });
    page = await context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
  });

  after(async () => {
    await browser?.close();
    await up.cleanup();
    await outside.remove();
  });

  it('serves the page to browsers and the version document to API clients at /', async () => {
    const html = await fetch(`${up.url}/`, { headers: { accept: 'text/html,*/*;q=0.8' } });
    assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await html.text(), /<div id="root">/);
    const json = await fetch(`${up.url}/`, { headers: { accept: 'application/json' } });
    assert.equal(((await json.json()) as { versions: { id: string }[] }).versions[0].id, 'v2.0');
  });

  /** True while the page loaded at login is still the one shown (hash changes keep it; reloads don't). */
  const sameDocument = () =>
    page.evaluate(() => (window as unknown as { loggedInDocument?: boolean }).loggedInDocument === true);

  it('logs a member in to their project', async () => {
    await login(page, up.url, 'alice', password, 'demo');
    await page.getByText('alice', { exact: true }).waitFor();
    await page.locator('.live-live').waitFor({ timeout: 10_000 });
    await page.evaluate(() => {
      (window as unknown as { loggedInDocument?: boolean }).loggedInDocument = true;
    });
  });

  it('shows the API message next to the CIDR field and creates nothing', async () => {
    await page.goto(`${up.url}/#/networks`);
    await page.locator('#network-name').fill('bad');
    await page.locator('#network-cidr').fill('10.30.0.0/33');
    await page.getByRole('button', { name: 'Create network' }).click();
    const error = page.locator('#network-cidr-error');
    await error.waitFor();
    assert.match(await error.innerText(), /cidr|10\.30\.0\.0\/33/i);
    assert.equal(await page.locator('#network-cidr').getAttribute('aria-invalid'), 'true');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-form-error.png') });
    await until('the half-made network to be gone', async () => {
      const { networks } = await alice.get<{ networks: unknown[] }>('/v2.0/networks?name=bad');
      return networks.length === 0;
    });
  });

  it('builds a network, a router, two instances and a floating IP through the forms', async () => {
    await page.locator('#network-name').fill('web');
    await page.locator('#network-cidr').fill('10.30.1.0/24');
    await page.getByRole('button', { name: 'Create network' }).click();
    await page.getByRole('row', { name: /web .*10\.30\.1\.0\/24/ }).waitFor();
    const { networks } = await alice.get<{ networks: { id: string }[] }>('/v2.0/networks?name=web');
    webId = networks[0].id;

    // A router whose second interface is refused (its subnet overlaps the first's) is not made at
    // all: the form says why, and the next success clears the message.
    const { network: clash } = await alice.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'clash' },
    });
    await alice.post('/v2.0/subnets', {
      subnet: { network_id: clash.id, ip_version: 4, cidr: '10.30.1.0/25' },
    });
    await page.goto(`${up.url}/#/routers`);
    await page.locator('#router-name').fill('half');
    await page.locator('#router-external').selectOption({ label: 'public' });
    await page.getByLabel('web · 10.30.1.0/24').check();
    await page.getByLabel('clash · 10.30.1.0/25').check();
    await page.getByRole('button', { name: 'Create router' }).click();
    const formError = page.locator('#new-router-form-error');
    await formError.waitFor();
    assert.match(
      await formError.innerText(),
      /Router not created: the interface on clash · 10\.30\.1\.0\/25 .*overlaps/,
    );
    await until('the half-made router to be gone', async () => {
      const all = (await alice.get<{ routers: unknown[] }>('/v2.0/routers')).routers;
      const ports = (await alice.get<{ ports: { device_owner: string }[] }>('/v2.0/ports')).ports;
      return all.length === 0 && !ports.some((p) => p.device_owner.startsWith('network:router'));
    });
    await page.getByLabel('clash · 10.30.1.0/25').uncheck();
    await page.locator('#router-name').fill('gw');
    await page.getByRole('button', { name: 'Create router' }).click();
    await page.getByRole('row', { name: /gw .*198\.51\.100\.\d+.*10\.30\.1\.1/ }).waitFor();
    await formError.waitFor({ state: 'detached' });
    await alice.delete(`/v2.0/networks/${clash.id}`);
    routerId = (await alice.get<{ routers: { id: string }[] }>('/v2.0/routers?name=gw')).routers[0].id;

    await page.goto(`${up.url}/#/instances`);
    for (const name of ['vm1', 'vm2']) {
      await page.locator('#instance-name').fill(name);
      await page.getByRole('checkbox', { name: 'web', exact: true }).check();
      await page.getByRole('button', { name: 'Create instance' }).click();
      await page.getByRole('row', { name: new RegExp(`^${name} (BUILD|ACTIVE) `) }).waitFor();
    }
    vms = (await alice.get<{ instances: Instance[] }>(`${INSTANCES}?sort_key=name`)).instances;
    assert.deepEqual(
      vms.map((v) => v.name),
      ['vm1', 'vm2'],
    );

    await page.goto(`${up.url}/#/floatingips`);
    await page.locator('#fip-port').selectOption(vms[0].ports[0].id);
    await page.getByRole('button', { name: 'Allocate' }).click();
    await page.getByRole('row', { name: /198\.51\.100\.\d+ .*vm1/ }).waitFor();
    fipId = (await alice.get<{ floatingips: { id: string }[] }>('/v2.0/floatingips')).floatingips[0].id;
  });

  it('draws every object with its address; instances become ACTIVE without a reload', async () => {
    await page.goto(`${up.url}/#/topology`);
    const { router } = await alice.get<{
      router: { external_gateway_info: { external_fixed_ips: FixedIp[] } };
    }>(`/v2.0/routers/${routerId}`);
    const { floatingip } = await alice.get<{ floatingip: { floating_ip_address: string } }>(
      `/v2.0/floatingips/${fipId}`,
    );
    const gateway = router.external_gateway_info.external_fixed_ips[0].ip_address;
    const fip = floatingip.floating_ip_address;
    const text = async (kind: string, id: string) => {
      await object(page, kind, id).first().waitFor();
      return object(page, kind, id).first().innerText();
    };
    assert.match(await text('networks', externalId), /public/);
    assert.match(await text('networks', webId), /web/);
    assert.match(
      await page.locator('.topo-card', { has: object(page, 'networks', webId) }).innerText(),
      /10\.30\.1\.0\/24 · gw 10\.30\.1\.1/,
    );
    assert.match(await text('routers', routerId), new RegExp(`gw\\s+${gateway.replace(/\./g, '\\.')}`));
    assert.match(await text('floatingips', fipId), new RegExp(`${fip.replace(/\./g, '\\.')}[\\s\\S]*vm1`));
    for (const vm of vms)
      assert.match(
        await text('instances', vm.id),
        new RegExp(vm.ports[0].fixed_ips[0].ip_address.replace(/\./g, '\\.')),
      );
    assert.match(await text('instances', vms[0].id), new RegExp(fip.replace(/\./g, '\\.')));
    // The interface's address labels the line from the router to the network.
    await page.locator('.react-flow__edge-text', { hasText: '10.30.1.1' }).waitFor();
    await page.locator('.react-flow__edge-text', { hasText: gateway }).waitFor();

    for (const vm of vms) {
      await object(page, 'instances', vm.id).locator('.status-ACTIVE').waitFor({ timeout: 30_000 });
    }
    assert.equal(await sameDocument(), true, 'no reload since login');
  });

  it('follows changes made through the API without a reload', async () => {
    const vm2 = object(page, 'instances', vms[1].id);
    const port = vms[1].ports[0].id;
    await alice.put(`/v2.0/ports/${port}`, { port: { admin_state_up: false } });
    await vm2.getByText('admin down').waitFor({ timeout: 5000 });
    await until('the agent to report the port DOWN', async () => {
      const p = (await alice.get<{ port: Port }>(`/v2.0/ports/${port}`)).port;
      return p.status === 'DOWN';
    });
    await alice.put(`/v2.0/ports/${port}`, { port: { admin_state_up: true } });
    await until('the flag to go', async () => (await vm2.getByText('admin down').count()) === 0, 5000);

    const { network } = await alice.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'made-elsewhere' },
    });
    await object(page, 'networks', network.id).waitFor({ timeout: 5000 });
    await alice.delete(`/v2.0/networks/${network.id}`);
    await object(page, 'networks', network.id).waitFor({ state: 'detached', timeout: 5000 });
    assert.equal(await sameDocument(), true, 'no reload since login');
  });

  it('opens details with Enter and closes them with Escape, focus returning', async () => {
    const chip = object(page, 'instances', vms[0].id);
    await chip.focus();
    await page.keyboard.press('Enter');
    const panel = page.getByRole('complementary', { name: /vm1/ });
    await panel.waitFor();
    assert.match(
      await panel.innerText(),
      new RegExp(vms[0].ports[0].fixed_ips[0].ip_address.replace(/\./g, '\\.')),
    );
    // The interface's security groups, floating IP, drop counters and the instance's host.
    const details = await panel.innerText();
    assert.match(details, /Security groups\s+default/);
    assert.match(details, /Floating IPs\s+198\.51\.100\.\d+/);
    const { instance } = await alice.get<{ instance: { host: string } }>(`${INSTANCES}/${vms[0].id}`);
    assert.match(details, new RegExp(`Host\\s+${instance.host}`));
    await panel.locator('.drops').first().waitFor();
    assert.match(await panel.locator('.drops').first().innerText(), /No drops|Dropped/i);
    assert.match(details, /QoS policy\s+none/);
    // Live traffic: with pings flowing, the instance's rates become numbers within two reports.
    const pinging = runInNamespace(
      `inst-${vms[0].id}`,
      'ping',
      ['-c', '60', '-i', '0.2', '-W', '1', vms[1].ports[0].fixed_ips[0].ip_address],
      { allowFail: true, timeoutMs: 30_000 },
    );
    const traffic = panel.getByRole('region', { name: 'Traffic' }).first();
    await traffic.waitFor();
    await until(
      'numeric rates in the details',
      async () => /in \d[\d.]* [kMG]?bit\/s/.test(await traffic.innerText()),
      25_000,
    );
    assert.equal(await traffic.locator('svg.sparkline').count(), 1);
    await pinging;
    // The minimap stays clear of the details panel.
    const [mini, aside] = await Promise.all([
      page.locator('.react-flow__minimap').boundingBox(),
      panel.boundingBox(),
    ]);
    assert.ok(mini && aside && mini.x + mini.width <= aside.x, 'the minimap is left of the details panel');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-details.png') });
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
    assert.equal(await chip.evaluate((el) => el === document.activeElement), true);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-small.png') });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-small-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('never cuts a name off, and refits the view when the window is resized', async () => {
    const cut = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('.card-name, .chip-name, .chip, .topo-router, .topo-card')]
        .filter((el) => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)
        .map((el) => el.textContent),
    );
    assert.deepEqual(cut, []);
    const transform = () => page.locator('.react-flow__viewport').evaluate((el) => el.style.transform);
    const before = await transform();
    await page.setViewportSize({ width: 900, height: 650 });
    await until('the view to be refitted', async () => (await transform()) !== before, 5000);
    const fits = await page.evaluate(() => {
      const view = document.querySelector('.topology')!.getBoundingClientRect();
      return [...document.querySelectorAll('.react-flow__node')].every((n) => {
        const r = n.getBoundingClientRect();
        return r.left >= view.left - 1 && r.right <= view.right + 1 && r.top >= view.top - 1;
      });
    });
    assert.equal(fits, true, 'every box inside the smaller view');
    await page.setViewportSize({ width: 1400, height: 900 });
    await until('the view to be refitted back', async () => (await transform()) === before, 5000);
  });

  it('switches to another project of the user and back', async () => {
    const select = page.getByRole('combobox', { name: 'Project' });
    await select.selectOption({ label: 'demo2' });
    await object(page, 'networks', webId).waitFor({ state: 'detached' });
    await object(page, 'networks', externalId).waitFor();
    await page.getByRole('combobox', { name: 'Project' }).selectOption({ label: 'demo' });
    await object(page, 'networks', webId).waitFor();
  });

  it('manages a security group and its rules, with the API refusing a bad rule', async () => {
    await page.goto(`${up.url}/#/security_groups`);
    await page.locator('#sg-name').fill('web-sg');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page
      .getByRole('row', { name: /^web-sg / })
      .getByRole('button')
      .click();
    const panel = page.getByRole('complementary', { name: /web-sg/ });
    await panel.waitFor();
    await panel.locator('#rule-min').fill('8080');
    await panel.locator('#rule-max').fill('80');
    await panel.getByRole('button', { name: 'Add rule' }).click();
    await panel.locator('#new-rule-form-error').waitFor();
    assert.match(await panel.locator('#new-rule-form-error').innerText(), /port/i);
    await panel.locator('#rule-max').fill('8080');
    await panel.locator('#rule-prefix').fill('198.51.100.0/24');
    await panel.getByRole('button', { name: 'Add rule' }).click();
    await panel.getByText('ingress IPv4 tcp port 8080 from 198.51.100.0/24').waitFor();
    await panel
      .locator('.danger-zone')
      .getByRole('button', { name: /^Delete / })
      .click();
    await panel.getByRole('button', { name: 'Confirm delete' }).click();
    await page.getByRole('row', { name: /^web-sg / }).waitFor({ state: 'detached' });
  });

  it('traces a packet from one instance to another and lists the hops', async () => {
    await page.goto(`${up.url}/#/trace`);
    await page.locator('#trace-source').selectOption({ label: 'vm1' });
    await page.locator('#trace-destination').fill('vm2');
    await page.getByRole('button', { name: 'Trace' }).click();
    const result = page.locator('.trace-result');
    await result.getByText('allowed', { exact: true }).waitFor();
    const text = await result.innerText();
    assert.match(text, /egress rule \w+ of security group default/);
    assert.match(text, /delivered to instance vm2 \(eth0, port \w+\) at 10\.30\.1\.\d+/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-trace.png') });
  });

  it('shows the model’s reachability matrix of the two instances; a cell opens its hops', async () => {
    await page.getByRole('button', { name: 'Check reachability' }).click();
    const summary = page.locator('.reach-summary');
    await summary.getByText(/pairs traced/).waitFor();
    assert.equal(await summary.innerText(), '2 pairs traced (icmp): 2 allowed, 0 denied, 0 unreachable.');
    const cell = page.getByRole('button', { name: 'vm1 to vm2, icmp: allowed', exact: true });
    assert.match(await cell.innerText(), /✓\s*allowed/);
    await page.getByRole('button', { name: 'vm2 to vm1, icmp: allowed', exact: true }).waitFor();
    await cell.focus();
    await page.keyboard.press('Enter');
    assert.equal(await cell.getAttribute('aria-pressed'), 'true');
    const detail = page.locator('#reach-detail .trace-result');
    await detail.waitFor();
    assert.match(await detail.innerText(), /delivered to instance vm2 \(eth0, port \w+\) at 10\.30\.1\.\d+/);
    await page.locator('.reach-matrix').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-reachability.png') });
  });

  it('builds a load balancer with a listener, a pool and both instances as members, shows it, deletes it', async () => {
    await page.goto(`${up.url}/#/loadbalancers`);
    await page.locator('#lb-name').fill('web-lb');
    for (const vm of vms)
      await page.getByRole('checkbox', { name: `${vm.name} ${vm.ports[0].fixed_ips[0].ip_address}` }).check();
    await page.getByRole('button', { name: 'Create load balancer' }).click();
    await page.getByRole('row', { name: /^web-lb / }).waitFor();
    const { loadbalancers } = await alice.get<{ loadbalancers: { id: string; vip_address: string }[] }>(
      '/load-balancer/v2/lbaas/loadbalancers',
    );
    assert.equal(loadbalancers.length, 1);
    const lb = loadbalancers[0];
    // On the topology, in the VIP's network, with its VIP.
    await page.goto(`${up.url}/#/topology`);
    const chip = object(page, 'loadbalancers', lb.id);
    await chip.waitFor();
    assert.match(await chip.innerText(), new RegExp(`LB ${lb.vip_address.replace(/\./g, '\\.')}`));
    await chip.click();
    const panel = page.getByRole('complementary', { name: /web-lb/ });
    const members = panel.getByRole('list', { name: 'Members', exact: true });
    await members.waitFor();
    for (const vm of vms)
      assert.match(
        await members.innerText(),
        new RegExp(vm.ports[0].fixed_ips[0].ip_address.replace(/\./g, '\\.')),
      );
    await panel.getByRole('region', { name: 'Traffic' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-load-balancer.png') });
    await panel
      .locator('.danger-zone')
      .getByRole('button', { name: /^Delete / })
      .click();
    await panel.getByRole('button', { name: 'Confirm delete' }).click();
    await panel.waitFor({ state: 'detached' });
    await until('the load balancer and its VIP port gone', async () => {
      const left = (await alice.get<{ loadbalancers: unknown[] }>('/load-balancer/v2/lbaas/loadbalancers'))
        .loadbalancers;
      const ports = (await alice.get<{ ports: { device_owner: string }[] }>('/v2.0/ports')).ports;
      return left.length === 0 && !ports.some((p) => p.device_owner === 'Octavia');
    });
  });

  it('deletes everything through the page; the namespaces go with it', async () => {
    const remove = async (route: string, name: RegExp) => {
      await page.goto(`${up.url}/#/${route}`);
      await page.getByRole('row', { name }).getByRole('button').first().click();
      const panel = page.getByRole('complementary');
      await panel
        .locator('.danger-zone')
        .getByRole('button', { name: /^Delete / })
        .click();
      await panel.getByRole('button', { name: 'Confirm delete' }).click();
      await panel.waitFor({ state: 'detached' });
      await page.getByRole('row', { name }).waitFor({ state: 'detached' });
    };
    await remove('floatingips', /198\.51\.100\./);
    await remove('instances', /^vm1 /);
    await remove('instances', /^vm2 /);

    await page.goto(`${up.url}/#/routers`);
    await page.getByRole('row', { name: /^gw / }).getByRole('button').first().click();
    const panel = page.getByRole('complementary');
    await panel.getByRole('button', { name: 'Remove interface' }).click();
    await panel.getByRole('button', { name: 'Remove interface' }).waitFor({ state: 'detached' });
    await page.keyboard.press('Escape');
    await remove('routers', /^gw /);
    await remove('networks', /^web /);

    for (const path of [
      '/v2.0/networks',
      '/v2.0/subnets',
      '/v2.0/ports',
      '/v2.0/routers',
      '/v2.0/floatingips',
      INSTANCES,
    ]) {
      const body = await alice.get<Record<string, { id: string; project_id: string }[]>>(path);
      const mine = Object.values(body)[0].filter((o) => o.project_id === demoId);
      assert.deepEqual(mine, [], `${path} of project demo`);
    }
    await until(
      'the namespaces of the deleted objects to be gone',
      async () => {
        const owned = await ownedObjects(up.stateDir);
        const all = await listNamespaces();
        return owned.namespaces.length === 0 && !all.includes(`qrouter-${routerId}`);
      },
      30_000,
    );
  });

  it('renders ~250 objects legibly for an admin; measures time to interactive and bundle size', async () => {
    const admin = up.session;
    const nets = (
      await admin.post<{ networks: { id: string }[] }>('/v2.0/networks', {
        networks: Array.from({ length: 40 }, (_, i) => ({ name: `net-${String(i).padStart(2, '0')}` })),
      })
    ).networks;
    const subnets = (
      await admin.post<{ subnets: { id: string }[] }>('/v2.0/subnets', {
        subnets: nets.map((n, i) => ({
          network_id: n.id,
          ip_version: 4,
          cidr: `10.${100 + i}.0.0/24`,
          name: `net-${String(i).padStart(2, '0')}-v4`,
          enable_dhcp: false,
        })),
      })
    ).subnets;
    await admin.post('/v2.0/ports', {
      ports: nets.flatMap((n, i) =>
        Array.from({ length: 4 }, (_, j) => ({ network_id: n.id, name: `port-${i}-${j}` })),
      ),
    });
    for (const r of [0, 1]) {
      const { router } = await admin.post<{ router: { id: string } }>('/v2.0/routers', {
        router: { name: `edge-${r}`, external_gateway_info: { network_id: externalId } },
      });
      for (const subnet of subnets.slice(r * 6, r * 6 + 6))
        await admin.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
    }

    const big = await browser.newContext({ viewport: { width: 1920, height: 1080 }, colorScheme: 'light' });
    try {
      const p = await big.newPage();
      await login(p, up.url, 'admin', up.adminPassword, 'admin');
      await waitInteractive(p);
      const loads: Record<string, number>[] = [];
      // Reloads keep the session (sessionStorage): each is a cold start of the page.
      for (let i = 0; i < 5; i++) {
        await p.reload();
        await waitInteractive(p);
        loads.push(await marks(p));
      }
      // An admin sees each host's L2 driver (the all-in-one's agent: linuxbridge).
      assert.match(await p.getByTestId('hosts').innerText(), /^Hosts: \S+ \(Linux bridge\)$/);
      const objects = Number((await p.locator('.topology-legend').innerText()).match(/(\d+) objects/)?.[1]);
      assert.ok(objects >= 200, `objects drawn: ${objects}`);
      const chip = p.getByRole('button', { name: /^port-17-2 / });
      const started = Date.now();
      await chip.click();
      await p.getByRole('complementary', { name: /port-17-2/ }).waitFor();
      const clickToDetailsMs = Date.now() - started;
      await p.keyboard.press('Escape');
      await p.screenshot({ path: join(ARTIFACTS, 'dashboard-200.png') });
      await p.screenshot({
        path: join(ARTIFACTS, 'dashboard-200-detail.png'),
        clip: { x: 0, y: 540, width: 960, height: 540 },
      });

      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const phase = (from: string, to: string) => median(loads.map((m) => m[to] - m[from]));
      const results = {
        date: new Date().toISOString().slice(0, 10),
        browser: `Chromium ${browser.version()} headless (${CHROMIUM}), viewport 1920x1080`,
        objects,
        reloads: loads.length,
        medianMs: {
          navigationToInteractive: median(loads.map((m) => m['neutrino:topology-interactive'])),
          appStartToData: phase('neutrino:cloud-start', 'neutrino:data'),
          dataToLayout: phase('neutrino:data', 'neutrino:layout'),
          layoutToInteractive: phase('neutrino:layout', 'neutrino:topology-interactive'),
          appStartToInteractive: phase('neutrino:topology-start', 'neutrino:topology-interactive'),
        },
        clickToDetailsMs,
        marks: loads,
        bundle: bundleSizes(),
      };
      writeFileSync(join(ARTIFACTS, 'dashboard-performance.json'), `${JSON.stringify(results, null, 2)}\n`);
      if (process.env.NEUTRINO_WRITE_BENCH === '1') {
        mkdirSync(join(ROOT, 'bench', 'web'), { recursive: true });
        writeFileSync(join(ROOT, 'bench', 'web', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
      }
      console.log(
        'dashboard performance:',
        JSON.stringify(results.medianMs),
        'bundle:',
        JSON.stringify(results.bundle.total),
      );
    } finally {
      await big.close();
    }
  });
});
