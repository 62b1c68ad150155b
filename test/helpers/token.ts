// The quiz platform's JWTs as the tests sign them (no import of the gateway: the shipping test
// signs for a compiled build it runs as a separate process).
import { SignJWT } from 'jose';

export const TEST_JWT_SECRET = 'test-secret-for-the-gateway-tests';
/** The issuer and audience every test token names; production configs must set them (`TEST_AUTH_CLAIMS`). */
export const TEST_AUTH_ISSUER = 'https://quiz.test.example';
export const TEST_AUTH_AUDIENCE = 'quiz-amocrm-gateway-test';
/** What a production config adds so `tokenFor`'s tokens pass its issuer and audience checks. */
export const TEST_AUTH_CLAIMS = { AUTH_ISSUER: TEST_AUTH_ISSUER, AUTH_AUDIENCE: TEST_AUTH_AUDIENCE } as const;

/**
 * An HS256 token naming `quizAccountId`, with `iss` and `aud` of `TEST_AUTH_CLAIMS` unless given;
 * `null` leaves the claim out.
 */
export async function tokenFor(
  quizAccountId: string,
  options: { secret?: string; expiresIn?: string | number; audience?: string | null; issuer?: string | null; claim?: string } = {},
): Promise<string> {
  const jwt = new SignJWT({ [options.claim ?? 'accountId']: quizAccountId })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h');
  const audience = options.audience === undefined ? TEST_AUTH_AUDIENCE : options.audience;
  const issuer = options.issuer === undefined ? TEST_AUTH_ISSUER : options.issuer;
  if (audience !== null) jwt.setAudience(audience);
  if (issuer !== null) jwt.setIssuer(issuer);
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}
