// The public face of the master (DESIGN.md §3, §6): the daemon class and what configures it.
export { Master, masterDefaults } from './master.js';
export type { MasterOptions } from './master.js';
export {
  metaCompactAfterChangesDefault,
  metaLogFile,
  metaSnapshotFile,
  repairMasterDataDir,
} from './meta-store.js';
