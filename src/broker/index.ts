// The broker's public face (DESIGN.md §3): the daemon as a library class and its options.
export { Broker } from './broker.js';
export type { BrokerOptions } from './options.js';
export { repairBrokerDataDir } from './repair.js';
