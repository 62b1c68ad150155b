// Which browser pages may call /graphql from another origin: the ones CORS_ORIGINS lists (the
// admin page's host when served elsewhere, the quiz platform's). Production lists nobody by
// default; development keeps yoga's permissive default so local tools work.
import type { CORSOptions } from 'graphql-yoga';
import type { Config } from '../config.ts';

/** Headers a cross-origin caller may send: the bearer token and a JSON body. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'accept'];

/** yoga's `cors` option for this configuration. */
export function corsOptions(config: Pick<Config, 'corsOrigins' | 'isProduction'>): CORSOptions | ((request: Request) => CORSOptions) | undefined {
  const allowed = new Set(config.corsOrigins);
  if (allowed.size === 0) return config.isProduction ? false : undefined;
  // false for an unlisted origin: no Access-Control-Allow-Origin at all (yoga's own list answers "null").
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.has(origin)) return false;
    // Tokens travel in the authorization header, never in cookies: no credentials.
    return { origin, credentials: false, methods: ['GET', 'POST'], allowedHeaders: CORS_ALLOWED_HEADERS, maxAge: 600 };
  };
}
