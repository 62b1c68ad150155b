/**
 * The control API: seeding and mutating accounts, consent, revoke, faults, and reading back
 * what the simulator received. Used in-process, and over HTTP as `POST /_sim/<method>` (control-http.ts).
 */
import type { SimState } from './state.ts';
import { type AccountControl, createAccountControl } from './control-accounts.ts';
import { type TrafficControl, createTrafficControl } from './control-traffic.ts';

export type { AccountSummary } from './control-accounts.ts';

export interface ControlApi extends AccountControl, TrafficControl {}

export function createControl(state: SimState): ControlApi {
  return { ...createAccountControl(state), ...createTrafficControl(state) };
}
