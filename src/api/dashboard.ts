/**
 * The dashboard's static files, built by `npm run build` into `dist/web`: its page at `/ui/`
 * and, for clients that prefer HTML (browsers), at `/` (see `versions.ts`); its hashed assets
 * under `/assets/`. Without a build the API works as before and browsers get a page that says
 * how to build one.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** `dist/web` of this package, from `src/api` (tsx) and `dist/api` (built) alike. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Same-origin only; inline styles because the graph positions nodes with style attributes. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Neutrino</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>Neutrino</h1>
<p>The networking API is running, but the dashboard has not been built.
Build it in the checkout with <code>npm run build</code> (or start with <code>./neutrino up</code>,
which builds what is missing), then reload this page.</p>
<p>API clients: the version document is at <code>/</code> with <code>Accept: application/json</code>.</p>
</body></html>
`;

/** The quality (`q`) a media range list gives `type`, by the most specific range that matches it. */
function quality(accept: string, type: string): number {
  const [major] = type.split('/');
  let best = -1;
  let q = 0;
  for (const part of accept.split(',')) {
    const [range, ...params] = part.trim().toLowerCase().split(';');
    const specificity = range === type ? 2 : range === `${major}/*` ? 1 : range === '*/*' ? 0 : -1;
    if (specificity <= best) continue;
    best = specificity;
    const param = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    q = param ? Number(param.slice(2)) || 0 : 1;
  }
  return q;
}

/**
 * Does this Accept header prefer HTML to JSON? Browsers ask for `text/html` first; OpenStack
 * clients ask for `application/json` and curl for anything: those keep the version document.
 */
export function prefersHtml(accept: string | undefined): boolean {
  return accept !== undefined && quality(accept, 'text/html') > quality(accept, 'application/json');
}

export interface Dashboard {
  /** Sends the dashboard's page (or the "not built" page). */
  sendPage(reply: FastifyReply): Promise<FastifyReply>;
}

export function registerDashboard(app: FastifyInstance, root = DEFAULT_WEB_ROOT): Dashboard {
  const assets = resolve(root, 'assets');
  const dashboard: Dashboard = {
    async sendPage(reply) {
      // Read per request: small, and a rebuild shows without a restart.
      const page = await readFile(join(root, 'index.html')).catch(() => NOT_BUILT);
      return reply.code(200).headers(PAGE_HEADERS).send(page);
    },
  };
  // `/ui/` (the router drops the trailing slash) and everything below it.
  app.get('/ui', (_req, reply) => dashboard.sendPage(reply));
  app.get('/ui/*', (_req, reply) => dashboard.sendPage(reply));
  app.get('/assets/*', async (req, reply) => {
    const file = resolve(assets, (req.params as { '*': string })['*']);
    const info = file.startsWith(assets + sep) ? await stat(file).catch(() => null) : null;
    if (!info?.isFile()) return reply.callNotFound();
    // Asset names carry a content hash: cache for ever.
    return reply
      .headers({
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': info.size,
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
      })
      .send(createReadStream(file));
  });
  return dashboard;
}
