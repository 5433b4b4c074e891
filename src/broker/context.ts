// What every request handler works with: one object built by the Broker, so handlers stay plain
// functions of (context, request) and can be read one file each.
import type { Logger } from '../common/index.js';
import type { StorageEngine } from '../storage/index.js';
import type { FetchWaiters } from './fetch-waiters.js';
import type { Hosting } from './hosting.js';
import type { PartitionLeases } from './partition-leases.js';

/** The broker's state as request handlers see it. */
export interface BrokerContext {
  readonly brokerId: number;
  readonly storage: StorageEngine;
  readonly hosting: Hosting;
  readonly waiters: FetchWaiters;
  /** Consumer group members' partition leases. */
  readonly leases: PartitionLeases;
  readonly logger: Logger;
  /** True once close() began (set by the Broker only): new requests are refused, none parks. */
  closing: boolean;
}
