// `tubemq broker repair`: the broker's durable group offsets, repaired offline under the data dir lock.
import { withDataDirLock } from '../common/data-dir-lock.js';
import type { DurableRepairReport } from '../common/durable-state.js';
import { nodeFileIO } from '../common/file-io.js';
import type { Logger } from '../common/logger.js';
import { GroupOffsetStore } from '../storage/index.js';

/**
 * Repairs the group offsets files of the broker data dir `dataDir`, keeping every valid commit
 * (see {@link GroupOffsetStore.repair}) while holding its lock: refused while a broker runs on it.
 */
export function repairBrokerDataDir(dataDir: string, logger: Logger): Promise<DurableRepairReport> {
  return withDataDirLock(dataDir, 'broker', () => GroupOffsetStore.repair(nodeFileIO, dataDir, logger));
}
