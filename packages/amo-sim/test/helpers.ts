/** Shared by the simulator's tests: the simulators they run against, API and control clients, answer helpers. */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createAmoSimulator, type AmoSimulator, type SeedAccountOptions, type SimulatorOptions } from '../src/index.ts';

// answers are checked field by field, so a loose type keeps the assertions short
export type Json = any;

export const CLIENT_ID = 'test-client';
export const CLIENT_SECRET = 'test-secret';
export const REDIRECT = 'http://127.0.0.1:1/webhook/create';

/** amoCRM's own rate limit (7 requests a second) and quick webhook retries. */
export const SIM_OPTIONS: SimulatorOptions = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT, webhookBackoffMs: 30, webhookTimeoutMs: 500 };

/** A rate limit no test reaches, for the suites about how accounts differ. */
export const UNTHROTTLED_OPTIONS: SimulatorOptions = { clientId: 'var-client', clientSecret: 'var-secret', redirectUri: 'http://127.0.0.1:1/cb', rateLimitRps: 1000 };

/**
 * A simulator started before the tests of the calling file (or describe) and stopped after them,
 * with `connect` (a seeded account and its API) and `control` (`/_sim` over HTTP) bound to it.
 */
export function simulatorSuite(options: SimulatorOptions) {
  const sim = createAmoSimulator(options);
  before(() => sim.start());
  after(() => sim.stop());
  return {
    sim,
    connect: (opts: SeedAccountOptions = {}) => connectApi(sim, opts),
    control: (method: string, ...args: unknown[]) => callControl(sim, method, ...args),
  };
}

/** list[index], failing the test when the list has no such item. */
export function nth<T>(list: readonly T[], index: number): T {
  const v = list[index];
  if (v === undefined) assert.fail(`no item ${index} in a list of ${list.length}`);
  return v;
}

/** A seeded account with a token, and a fetch of the simulator's API as that account (JSON bodies as `json`). */
export function connectApi(sim: AmoSimulator, opts: SeedAccountOptions = {}) {
  const acc = sim.seedAccount(opts);
  const token = sim.issueTokens(acc.id).access_token;
  const api = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const { json, ...rest } = init;
    return fetch(sim.url + path, {
      ...rest,
      method: rest.method ?? (json !== undefined ? 'POST' : 'GET'),
      headers: { authorization: `Bearer ${token}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: json !== undefined ? JSON.stringify(json) : undefined,
    });
  };
  /** POST leads/complex; resolves to [status, body]. */
  const complex = async (leads: unknown[]): Promise<[number, Json]> => {
    const res = await api('/api/v4/leads/complex', { json: leads });
    return [res.status, await res.json()];
  };
  return { acc, token, api, complex };
}

/** Calls `/_sim/<method>` with the arguments as a JSON array; fails the test unless it answers 200 or 204. */
async function callControl(sim: AmoSimulator, method: string, ...args: unknown[]) {
  const res = await fetch(`${sim.url}/_sim/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
  assert.ok(res.status === 200 || res.status === 204, `${method} → ${res.status}`);
  return res.status === 204 ? undefined : res.json();
}

export function bearer(token: string) {
  return { headers: { authorization: `Bearer ${token}` } };
}

/** [code, path, detail] of every validation error of a 400 answer. */
export const errorsOf = (body: Json) => body['validation-errors'].flatMap((g: Json) => g.errors.map((e: Json) => [e.code, e.path, e.detail]));
export const NSC = 'The value you selected is not a valid choice.';
export const newField = (name: string) => [{ name, type: 'text' }];
