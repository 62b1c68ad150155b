/**
 * Shared types of the amoCRM (Kommo) API v4 simulator, gathered from types/ so every module
 * (and the package's index) imports them from one place.
 * Shapes follow what amoCRM answers; fields the simulator does not model are left out.
 */
export * from './types/account.ts';
export * from './types/records.ts';
export * from './types/simulator.ts';
