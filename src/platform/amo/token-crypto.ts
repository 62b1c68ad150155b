/**
 * Tokens at rest: AES-256-GCM with a random 12-byte IV and a 16-byte auth tag.
 *
 * Stored text: `v1.<iv>.<tag>.<ciphertext>` (each part base64url). The version prefix lets a
 * later format (another cipher, key rotation with a key id) sit beside this one.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class TokenDecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenDecryptError';
  }
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw new TypeError('token encryption key must be 32 bytes');
}

export function encryptSecret(plain: string, key: Buffer): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
}

/** Throws `TokenDecryptError` (never with the stored text in it) for a malformed, foreign or tampered value. */
export function decryptSecret(stored: string, key: Buffer): string {
  checkKey(key);
  const [version, ivText, tagText, cipherText, ...rest] = stored.split('.');
  if (version !== VERSION || ivText === undefined || tagText === undefined || cipherText === undefined || rest.length > 0) {
    throw new TokenDecryptError('unsupported encrypted token format');
  }
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  const ciphertext = Buffer.from(cipherText, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new TokenDecryptError('malformed encrypted token');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new TokenDecryptError('encrypted token failed authentication (wrong key or tampered value)');
  }
}
