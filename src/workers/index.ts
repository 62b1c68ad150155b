// Everything a gateway process does besides answering requests.
import type { Services } from '../services.ts';

export interface Workers {
  stop(): Promise<void>;
}

export async function startWorkers(_services: Services): Promise<Workers> {
  const stops: (() => Promise<void>)[] = [];
  return {
    async stop() {
      for (const stop of stops.reverse()) await stop();
    },
  };
}
