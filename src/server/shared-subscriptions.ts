// Subscribers of one tenant with the same operation (document, operation name and variables)
// share one execution: each event is executed once and serialised once, and the one payload is
// written to every subscriber's socket under its own operation id. The key always holds the
// tenant, so an execution (its context, its caller) never serves another tenant; different
// variables are different keys.
import type { ExecutionResult } from 'graphql';
import type { WebSocket } from 'ws';

type Source = AsyncIterable<ExecutionResult> | ExecutionResult;

interface Member {
  socket: WebSocket;
  /** `{"id":"<operation id>","type":"next","payload":` */
  prefix: string;
  /** hands the member's iterator (graphql-ws awaits it) its end: done, an error, or a last result */
  settle(end: End): void;
}

type End = { done: true } | { error: unknown } | { result: ExecutionResult };

/** What graphql-ws iterates for one operation (it ends it with `return()` on complete or close). */
export type MemberIterator = AsyncIterableIterator<ExecutionResult> & { return(): Promise<IteratorResult<ExecutionResult>> };

interface Group {
  members: Set<Member>;
  iterator?: AsyncIterator<ExecutionResult>;
  closed: boolean;
}

/** The `payload` of a graphql-ws `next` message, as graphql-ws writes it (errors as their JSON). */
export function serialiseResult(result: ExecutionResult): string {
  const { errors, ...rest } = result;
  return JSON.stringify(errors ? { ...rest, errors: errors.map((e) => (typeof e.toJSON === 'function' ? e.toJSON() : e)) } : rest);
}

export interface SharedSubscriptions {
  /**
   * The iterable graphql-ws is given for operation `id` on `socket`: it yields nothing while the
   * shared execution writes the events straight to the socket, and ends when the execution ends
   * (or yields its one result when the operation is not a stream). `start` runs the execution;
   * only the first subscriber of a key starts one.
   */
  join(key: string, socket: WebSocket, id: string, start: () => Promise<Source> | Source): MemberIterator;
  /** executions running and subscribers served by them (metrics, tests) */
  stats(): { executions: number; subscribers: number };
}

export function createSharedSubscriptions(): SharedSubscriptions {
  const groups = new Map<string, Group>();

  function end(key: string, group: Group, how: End): void {
    if (groups.get(key) === group) groups.delete(key);
    group.closed = true;
    for (const m of group.members) m.settle(how);
    group.members.clear();
  }

  async function drive(key: string, group: Group, start: () => Promise<Source> | Source): Promise<void> {
    let source: Source;
    try {
      source = await start();
    } catch (error) {
      return end(key, group, { error });
    }
    if (!(Symbol.asyncIterator in Object(source))) return end(key, group, { result: source as ExecutionResult });
    const iterator = (source as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator]();
    group.iterator = iterator;
    if (group.members.size === 0) {
      // everyone left while it started
      if (groups.get(key) === group) groups.delete(key);
      group.closed = true;
      await iterator.return?.();
      return;
    }
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done || group.closed) break;
        const payload = serialiseResult(next.value) + '}';
        for (const m of group.members) if (m.socket.readyState === m.socket.OPEN) m.socket.send(m.prefix + payload);
      }
    } catch (error) {
      return end(key, group, { error });
    }
    end(key, group, { done: true });
  }

  return {
    join(key, socket, id, start) {
      let group = groups.get(key);
      const first = !group;
      if (!group) groups.set(key, (group = { members: new Set(), closed: false }));
      const g = group;
      let settled: End | null = null;
      let wake: (() => void) | null = null;
      const member: Member = {
        socket,
        prefix: `{"id":${JSON.stringify(id)},"type":"next","payload":`,
        settle(how) {
          settled ??= how;
          wake?.();
        },
      };
      g.members.add(member);
      const leave = () => {
        if (!g.members.delete(member) || g.members.size > 0 || g.closed) return;
        // the last subscriber left: the execution ends (its pub/sub listener with it)
        if (groups.get(key) === g) groups.delete(key);
        g.closed = true;
        void g.iterator?.return?.();
      };
      if (first) void drive(key, g, start);

      let finished = false;
      const iterator: MemberIterator = {
        [Symbol.asyncIterator]: () => iterator,
        async next() {
          if (finished) return { done: true, value: undefined };
          if (!settled) await new Promise<void>((resolve) => (wake = resolve));
          finished = true;
          const how = settled as End;
          if ('error' in how) throw how.error;
          if ('result' in how) return { done: false, value: how.result };
          return { done: true, value: undefined };
        },
        async return() {
          finished = true;
          leave();
          member.settle({ done: true });
          return { done: true, value: undefined };
        },
      };
      return iterator;
    },
    stats() {
      let subscribers = 0;
      for (const g of groups.values()) subscribers += g.members.size;
      return { executions: groups.size, subscribers };
    },
  };
}
