// What the tests ask a real broker directly: a topic's ends and a group's committed offsets, so a
// negative assertion ("not delivered again") waits for the commit that makes it meaningful.
import { connect } from 'node:net';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { topicEnds } from '../../src/platform/queue/kafka-admin.ts';

export interface BrokerAdmin {
  /** how many messages the topic holds over all its partitions (high - low) */
  messages(topic: string): Promise<number>;
  /** true once `groupId` has committed every partition of `topic` up to its end */
  committedThroughEnd(groupId: string, topic: string): Promise<boolean>;
  /** waits until every partition of `topic` has a leader that answers for it (fresh topics have none for a moment) */
  waitForLeaders(topic: string): Promise<void>;
  close(): Promise<void>;
}

export async function brokerAdmin(brokers: string[]): Promise<BrokerAdmin> {
  const admin: Admin = new Kafka({ clientId: 'test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  return {
    async messages(topic) {
      const ends = await topicEnds(admin, topic);
      return ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    },
    async committedThroughEnd(groupId, topic) {
      const ends = await topicEnds(admin, topic);
      // Right after a broker restart the group's coordinator is still being elected
      // (NOT_COORDINATOR, retriable): not committed yet, ask again.
      const fetched = await admin.fetchOffsets({ groupId, topics: [topic] }).catch((err: unknown) => {
        if ((err as { retriable?: boolean }).retriable) return null;
        throw err;
      });
      if (!fetched) return false;
      const [committed] = fetched;
      const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      // an empty partition needs no commit; -1 is "nothing committed yet"
      return ends.every((p) => Number(p.high) === Number(p.low) || (at.get(p.partition) ?? -1) >= Number(p.high));
    },
    async waitForLeaders(topic) {
      for (let attempt = 1; ; attempt++) {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => ({ topics: [] }));
        const partitions = topics[0]?.partitions ?? [];
        // topicEnds answers only once each partition's leader hosts it
        if (
          partitions.length > 0 &&
          partitions.every((p) => p.leader >= 0) &&
          (await topicEnds(admin, topic, 1).then(
            () => true,
            () => false,
          ))
        )
          return;
        if (attempt >= 100) throw new Error(`topic ${topic} has no leader for every partition after ${attempt} tries`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => admin.disconnect(),
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (a stopped broker does not). */
export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
