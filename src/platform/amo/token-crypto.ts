/**
 * Tokens at rest: AES-256-GCM with a random 12-byte IV and a 16-byte auth tag.
 *
 * Stored text: `v2.<key id>.<iv>.<tag>.<ciphertext>` (iv, tag and ciphertext base64url). The key
 * id names the key of the keyring it was written with, so keys can be rotated: new writes use
 * the keyring's current key, older ones keep decrypting while their key is listed. The
 * associated data (`tokenAad`: the account id and the column) binds a ciphertext to its row and
 * column: copied to another account's row, or from the access to the refresh column, it fails
 * authentication.
 *
 * Still read: `v1.<iv>.<tag>.<ciphertext>`, the format before key ids, written with the key that
 * is now the key id `k1` (TOKEN_ENCRYPTION_KEY) and without associated data. Nothing writes it any
 * more: a pair is rewritten as v2 at its next write (the refresh, at the latest a day later).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The key id of TOKEN_ENCRYPTION_KEY, and the key that v1 values were written with. */
export const LEGACY_KEY_ID = 'k1';

/** Keys by id; `current` encrypts every new write. */
export interface TokenKeyring {
  current: string;
  keys: ReadonlyMap<string, Buffer>;
}

/** A keyring, or a single key (the key id `k1`). */
export type TokenKeys = Buffer | TokenKeyring;

/** Which stored column a ciphertext belongs to. */
export type TokenColumn = 'access' | 'refresh';

/** The associated data of an account's token column. */
export const tokenAad = (accountId: string, column: TokenColumn) => `amo_token:${accountId}:${column}`;

export class TokenDecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenDecryptError';
  }
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw new TypeError('token encryption key must be 32 bytes');
}

export function keyringOf(keys: TokenKeys): TokenKeyring {
  if (Buffer.isBuffer(keys)) return { current: LEGACY_KEY_ID, keys: new Map([[LEGACY_KEY_ID, keys]]) };
  return keys;
}

/** Encrypts for one column of one account (`aad`: `tokenAad(accountId, column)`) with the current key. */
export function encryptSecret(plain: string, keys: TokenKeys, aad = ''): string {
  const ring = keyringOf(keys);
  const key = ring.keys.get(ring.current);
  if (!key) throw new TypeError(`no token encryption key with the current id ${ring.current}`);
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return ['v2', ring.current, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
}

/**
 * Decrypts a value of the column `aad` names. Throws `TokenDecryptError` (never with the stored
 * text in it) for a malformed, foreign, moved or tampered value, or one whose key is not listed.
 */
export function decryptSecret(stored: string, keys: TokenKeys, aad = ''): string {
  const ring = keyringOf(keys);
  const parts = stored.split('.');
  let keyId: string;
  let rest: string[];
  if (parts[0] === 'v2' && parts.length === 5) [keyId, ...rest] = parts.slice(1) as [string, ...string[]];
  else if (parts[0] === 'v1' && parts.length === 4) [keyId, rest] = [LEGACY_KEY_ID, parts.slice(1)];
  else throw new TokenDecryptError('unsupported encrypted token format');
  const key = ring.keys.get(keyId);
  if (!key) throw new TokenDecryptError(`encrypted token written with key id ${JSON.stringify(keyId.slice(0, 40))}, which is not configured`);
  checkKey(key);
  const [iv, tag, ciphertext] = rest.map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer];
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new TokenDecryptError('malformed encrypted token');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    // v1 had no associated data: it is bound to nothing until rewritten
    if (parts[0] === 'v2') decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new TokenDecryptError('encrypted token failed authentication (wrong key, another row or column, or tampered value)');
  }
}
