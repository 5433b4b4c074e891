// Shared by the master tests: temp data dirs, a master on a free port, an admin connection, and a
// fake broker (a dialed connection that registers, heartbeats and applies pushed assignments).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Master, type MasterOptions } from '../../src/master/index.js';
import {
  brokerAssignmentPush,
  brokerHeartbeatMessage,
  callJson,
  dial,
  registerBrokerMessage,
  type BrokerAssignment,
  type BrokerHeartbeatResponse,
  type Connection,
  type RegisterBrokerResponse,
} from '../../src/protocol/index.js';

/** A fresh directory under /dev/shm (cheap fsyncs) or the OS temp dir; removed by `removeTempRoot`. */
export function tempRoot(prefix: string): { fresh: () => string; remove: () => void } {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const root = fs.mkdtempSync(path.join(base, prefix));
  let count = 0;
  return {
    fresh: () => path.join(root, `d${++count}`),
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/** Starts a master on 127.0.0.1, any free port. */
export function startMaster(dataDir: string, options: Partial<MasterOptions> = {}): Promise<Master> {
  return Master.start({ host: '127.0.0.1', port: 0, dataDir, ...options });
}

/** An admin/client connection to `master`. */
export async function connectTo(master: Master, clientId = 'test-admin'): Promise<Connection> {
  const { connection } = await dial({ host: master.host, port: master.port }, { clientId });
  return connection;
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms until it returns true or `timeoutMs` passes (then throws). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** How a {@link FakeBroker} answers pushed assignments. */
export interface FakeBrokerOptions {
  /** Advertised port; default 9000 + id. */
  port?: number;
  /** Apply a pushed assignment and heartbeat at once, like a real broker. @default true */
  applyPushes?: boolean;
  /** Never apply anything (a stuck broker): appliedVersion stays 0 whatever it is sent. @default false */
  neverApply?: boolean;
  /** Wait this long before applying a push. @default 0 */
  applyDelayMs?: number;
}

/** A broker as the master sees one: a connection that registers, heartbeats and takes pushes. */
export class FakeBroker {
  appliedVersion = 0;
  readonly pushes: BrokerAssignment[] = [];
  /** The last assignment received by any route (register, heartbeat answer, push). */
  assignment: BrokerAssignment | undefined;
  /** Times (ms) at which heartbeats were sent, each with the version it reported. */
  readonly heartbeatsSent: { atMs: number; appliedVersion: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly brokerId: number,
    readonly connection: Connection,
    readonly port: number,
    private readonly options: FakeBrokerOptions,
  ) {}

  /** Connects to `master` (does not register yet). */
  static async connect(
    master: Master,
    brokerId: number,
    options: FakeBrokerOptions = {},
  ): Promise<FakeBroker> {
    // Pushes can only arrive after registration, by which time `holder.broker` is set.
    const holder: { broker?: FakeBroker } = {};
    const { connection } = await dial(
      { host: master.host, port: master.port },
      { clientId: `fake-broker-${brokerId}`, onPush: (frame) => holder.broker?.onPush(frame.body) },
    );
    holder.broker = new FakeBroker(brokerId, connection, options.port ?? 9000 + brokerId, options);
    return holder.broker;
  }

  /** Connects and registers. */
  static async online(
    master: Master,
    brokerId: number,
    options: FakeBrokerOptions = {},
  ): Promise<FakeBroker> {
    const broker = await FakeBroker.connect(master, brokerId, options);
    await broker.register();
    return broker;
  }

  async register(): Promise<RegisterBrokerResponse> {
    const response = await callJson(this.connection, registerBrokerMessage, {
      brokerId: this.brokerId,
      host: '127.0.0.1',
      port: this.port,
    });
    this.apply(response.assignment);
    return response;
  }

  async heartbeat(): Promise<BrokerHeartbeatResponse> {
    this.heartbeatsSent.push({ atMs: Date.now(), appliedVersion: this.appliedVersion });
    const response = await callJson(this.connection, brokerHeartbeatMessage, {
      brokerId: this.brokerId,
      appliedVersion: this.appliedVersion,
    });
    if (response.assignment !== undefined) this.apply(response.assignment);
    return response;
  }

  /** Heartbeats every `intervalMs` until {@link stopHeartbeats}; failures are ignored. */
  startHeartbeats(intervalMs: number): void {
    this.timer = setInterval(() => void this.heartbeat().catch(() => undefined), intervalMs);
  }

  stopHeartbeats(): void {
    clearInterval(this.timer);
  }

  close(): void {
    this.stopHeartbeats();
    this.connection.close();
  }

  private apply(assignment: BrokerAssignment): void {
    this.assignment = assignment;
    if (this.options.neverApply === true) return;
    this.appliedVersion = Math.max(this.appliedVersion, assignment.version);
  }

  private onPush(body: Buffer): void {
    const assignment = brokerAssignmentPush.decode(body);
    this.pushes.push(assignment);
    if (this.options.applyPushes === false) return;
    setTimeout(() => {
      this.apply(assignment);
      void this.heartbeat().catch(() => undefined);
    }, this.options.applyDelayMs ?? 0);
  }
}
