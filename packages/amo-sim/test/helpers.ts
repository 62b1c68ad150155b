/** Shared by the simulator's tests. */
import assert from 'node:assert/strict';
import type { AmoSimulator, SeedAccountOptions } from '../src/index.ts';

/** list[index], failing the test when the list has no such item. */
export function nth<T>(list: readonly T[], index: number): T {
  const v = list[index];
  if (v === undefined) assert.fail(`no item ${index} in a list of ${list.length}`);
  return v;
}

/** A seeded account with a token, and a fetch of the simulator's API as that account (JSON bodies as `json`). */
export function connectApi(sim: AmoSimulator, base: string, opts: SeedAccountOptions = {}) {
  const acc = sim.seedAccount(opts);
  const token = sim.issueTokens(acc.id).access_token;
  const api = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const { json, ...rest } = init;
    return fetch(base + path, {
      ...rest,
      method: rest.method ?? (json !== undefined ? 'POST' : 'GET'),
      headers: { authorization: `Bearer ${token}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: json !== undefined ? JSON.stringify(json) : undefined,
    });
  };
  return { acc, token, api };
}
