import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import kafkajs from 'kafkajs';
import type { ISocketFactory, KafkaConfig, logCreator } from 'kafkajs';
import type { Logger } from '../logger.ts';

const { Kafka, logLevel } = kafkajs;
export type KafkaClient = InstanceType<typeof Kafka>;

/**
 * Retries of the kafkajs client itself (connections, metadata, produce, fetch,
 * commit). Generous on purpose: with a 5 s cap, 20 tries wait about 80 s, so a
 * broker restart of 10–20 s is ridden out (publish waits, consumers reconnect)
 * instead of crashing the process.
 */
export const CLIENT_RETRY = { initialRetryTime: 300, maxRetryTime: 5_000, retries: 20, factor: 0.2, multiplier: 2 };

/** A kafkajs client (producer/admin share one; every consumer gets its own). */
export function kafkaClient(opts: { clientId: string; brokers: string[]; logger: Logger }, sockets: SocketTracker): KafkaClient {
  const config: KafkaConfig = {
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: CLIENT_RETRY,
    logLevel: opts.logger.isLevelEnabled('debug') ? logLevel.INFO : logLevel.WARN,
    logCreator: kafkaLogCreator(opts.logger),
    socketFactory: sockets.factory,
  };
  return new Kafka(config);
}

/** The client of ready(): no retries, short timeouts, so /readyz answers quickly. */
export function healthClient(opts: { clientId: string; brokers: string[] }, sockets: SocketTracker): KafkaClient {
  return new Kafka({
    clientId: `${opts.clientId}-health`,
    brokers: opts.brokers,
    connectionTimeout: 1_000,
    requestTimeout: 3_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
    socketFactory: sockets.factory,
  });
}

function kafkaLogCreator(base: Logger): logCreator {
  const log = base.child({ component: 'kafkajs' });
  return () => (entry) => {
    const { message, ...extra } = entry.log;
    // We bound the idempotent producer's retries on purpose (see CLIENT_RETRY): publish must
    // fail eventually instead of hanging forever during a long outage.
    if (message === 'Limiting retries for the idempotent producer may invalidate EoS guarantees') return;
    // Our own clean-up of sockets kafkajs forgot (SocketTracker), not a broker problem.
    if (typeof message === 'string' && message.includes(LEFTOVER_SOCKET)) return;
    const fields = { namespace: entry.namespace, ...extra };
    switch (entry.level) {
      case logLevel.ERROR:
        log.error(fields, message);
        break;
      case logLevel.WARN:
        log.warn(fields, message);
        break;
      case logLevel.INFO:
        log.info(fields, message);
        break;
      default:
        log.debug(fields, message);
    }
  };
}

/**
 * kafkajs' own socket factory, plus a record of the sockets it opened.
 *
 * Why: after a broker restart kafkajs (2.2.4) can drop a Broker object from its pool
 * (`removeBroker` on a closed connection) while the consumer group still holds it as
 * its coordinator and reconnects it; `disconnect()` then never closes that socket,
 * and the process cannot exit until the broker reaps the idle connection (10 min).
 * Every client gets its own set, and whatever is still open after disconnect() is
 * destroyed.
 */
const LEFTOVER_SOCKET = 'closed by the queue after disconnect';

export class SocketTracker {
  readonly sockets = new Set<Socket>();
  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket: Socket = ssl ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect) : netConnect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  };
  /**
   * Destroys what disconnect() left open; returns how many. Destroyed *with an error*, so
   * kafkajs' own error path runs (rejects pending requests, stops its request-timeout
   * timers); a bare destroy() would leave those timers keeping the process alive.
   */
  destroyLeftovers(): number {
    let n = 0;
    for (const socket of this.sockets) {
      if (!socket.destroyed) {
        socket.destroy(new Error(LEFTOVER_SOCKET));
        n++;
      }
    }
    this.sockets.clear();
    return n;
  }
}
