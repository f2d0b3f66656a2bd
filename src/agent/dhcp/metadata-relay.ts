/**
 * The agent's half of the metadata service (Neutron's metadata agent): a unix socket in the state
 * dir that every network's metadata proxy (`linux/haproxy.ts`) forwards to. Each request carries
 * the network and the source address the proxy stamped on it; the relay asks the API's metadata
 * endpoint with the agent's own credentials and hands back the answer. Only GET and HEAD of paths
 * made of plain characters pass; anything else is refused here, before the API.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { FORWARDED_HEADER, NETWORK_HEADER } from '../../linux/haproxy.js';

export function metadataSocket(stateDir: string): string {
  return join(stateDir, 'metadata.sock');
}

export interface MetadataAnswer {
  status: number;
  contentType: string;
  /** Bytes: user data may be anything. */
  body: Buffer;
}

/** Asks the API for `path` (below the metadata root) on behalf of the instance at `address`. */
export type MetadataFetch = (path: string, networkId: string, address: string) => Promise<MetadataAnswer>;

const PATH = /^\/[A-Za-z0-9._~/-]*$/;
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

export class MetadataRelay {
  readonly #socket: string;
  readonly #fetch: MetadataFetch;
  #server: Server | undefined;

  constructor(stateDir: string, fetch: MetadataFetch) {
    this.#socket = metadataSocket(stateDir);
    this.#fetch = fetch;
  }

  async start(): Promise<void> {
    await mkdir(dirname(this.#socket), { recursive: true });
    await rm(this.#socket, { force: true });
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#socket, () => resolve());
    });
    await chmod(this.#socket, 0o600);
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.#socket, { force: true });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: Buffer | string, contentType = 'text/plain') => {
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const path = (req.url ?? '/').split('?')[0];
    const networkId = header(req, NETWORK_HEADER);
    const address = header(req, FORWARDED_HEADER);
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'Method Not Allowed\n');
    if (!PATH.test(path) || path.includes('..')) return reply(400, 'Bad Request\n');
    if (!networkId || !ID.test(networkId) || !address) return reply(400, 'Bad Request\n');
    try {
      const answer = await this.#fetch(path, networkId, address);
      reply(answer.status, answer.body, answer.contentType);
    } catch {
      reply(502, 'Bad Gateway\n');
    }
  }
}
