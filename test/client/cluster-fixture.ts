// A real master and broker (broker id 1) in this process, on free ports in a temp dir, for the
// client's integration tests. The broker can be stopped and started again on the same port and data.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, type BrokerOptions } from '../../src/broker/index.js';
import { Admin, Producer, type ProducerOptions } from '../../src/client/index.js';
import { Master, type MasterOptions } from '../../src/master/index.js';

/** Timing overrides for tests that want short leases or heartbeats. */
export interface ClusterFixtureOptions {
  master?: Partial<Omit<MasterOptions, 'host' | 'port' | 'dataDir'>>;
  broker?: Partial<Pick<BrokerOptions, 'consumerLeaseMs'>>;
}

/** A running one-broker cluster. */
export class ClusterFixture {
  broker: Broker | undefined;
  brokerPort = 0;

  private constructor(
    readonly root: string,
    public master: Master,
    readonly options: ClusterFixtureOptions,
  ) {}

  /** Starts a master and a registered broker. */
  static async start(options: ClusterFixtureOptions = {}): Promise<ClusterFixture> {
    const root = await mkdtemp(join(tmpdir(), 'tubemq-client-'));
    const master = await Master.start({
      ...options.master,
      host: '127.0.0.1',
      port: 0,
      dataDir: join(root, 'master'),
    });
    const fixture = new ClusterFixture(root, master, options);
    await fixture.startBroker();
    return fixture;
  }

  /** `127.0.0.1:<master port>`. */
  get masters(): string {
    return `127.0.0.1:${this.master.port}`;
  }

  /** Starts the broker (again: same id, port and data dir) and waits until it is registered. */
  async startBroker(): Promise<void> {
    const broker = await Broker.start({
      ...this.options.broker,
      brokerId: 1,
      host: '127.0.0.1',
      port: this.brokerPort,
      dataDir: join(this.root, 'broker'),
      masters: [{ host: '127.0.0.1', port: this.master.port }],
    });
    this.broker = broker;
    this.brokerPort = broker.port;
    await broker.whenRegistered();
  }

  /** Stops the broker (it can be started again). */
  async stopBroker(): Promise<void> {
    const broker = this.broker;
    this.broker = undefined;
    await broker?.close();
  }

  /** Stops the master and starts it again on the same port and data dir. */
  async restartMaster(): Promise<void> {
    const port = this.master.port;
    await this.master.close();
    this.master = await Master.start({
      ...this.options.master,
      host: '127.0.0.1',
      port,
      dataDir: join(this.root, 'master'),
    });
  }

  /** Stops everything and removes the data. */
  async close(): Promise<void> {
    await this.stopBroker();
    await this.master.close();
    await rm(this.root, { recursive: true, force: true });
  }
}

/** A cluster with an Admin and a Producer on it: what most client test files start from. */
export interface ClusterClients {
  cluster: ClusterFixture;
  admin: Admin;
  producer: Producer;
}

/** Starts a cluster, then an Admin and a Producer (`producer` options beside the masters) on it. */
export async function startClusterClients(
  options: ClusterFixtureOptions = {},
  producer: Omit<ProducerOptions, 'masters'> = {},
): Promise<ClusterClients> {
  const cluster = await ClusterFixture.start(options);
  return {
    cluster,
    admin: new Admin({ masters: cluster.masters }),
    producer: new Producer({ ...producer, masters: cluster.masters }),
  };
}

/** Closes what {@link startClusterClients} started: the producer first, while it can still flush. */
export async function closeClusterClients({ cluster, admin, producer }: ClusterClients): Promise<void> {
  await producer.close();
  await admin.close();
  await cluster.close();
}

/** Polls `check` every 10 ms until it holds; resolves with the ms it took, rejects naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<number> {
  const began = Date.now();
  while (!check()) {
    if (Date.now() - began > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - began;
}
