/** Password hashing with scrypt (N=16384, r=8, p=1), stored as `scrypt$salt$hash` in base64. */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

function parse(stored: string): { salt: Buffer; hash: Buffer } | null {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return null;
  return { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
}

/** A hash no password matches, checked instead of a missing one. */
let dummy: Promise<string> | undefined;

/**
 * Whether `password` matches `stored`. An unknown user (`stored` undefined) or one without a
 * password still costs one scrypt, so the answer's timing does not tell which users exist.
 */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parsed = stored === undefined ? null : parse(stored);
  dummy ??= hashPassword(randomBytes(18).toString('base64url'));
  const against = parsed ?? parse(await dummy)!;
  const actual = await scrypt(password, against.salt, against.hash.length);
  return parsed !== null && timingSafeEqual(against.hash, actual);
}

/** A random password for the bootstrap admin when none is configured. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
