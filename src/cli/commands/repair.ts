// `tubemq master repair` and `tubemq broker repair`: check a stopped daemon's metadata or offsets
// files and repair them so that it starts, keeping every valid change and saying what was dropped.
import { basename } from 'node:path';
import { repairBrokerDataDir } from '../../broker/index.js';
import type { DurableRepairReport } from '../../common/durable-state.js';
import { createLogger } from '../../common/logger.js';
import { repairMasterDataDir } from '../../master/index.js';
import type { Invocation } from '../invocation.js';
import { writeOut } from '../output.js';
import { dataDirOf } from './daemon-control.js';

/** `tubemq master repair`. */
export async function masterRepair(invocation: Invocation): Promise<number> {
  const dataDir = await dataDirOf('master', invocation);
  const report = await repairMasterDataDir(dataDir, createLogger({ name: 'master-repair' }));
  await printReport('master', dataDir, report, invocation);
  return 0;
}

/** `tubemq broker repair`. */
export async function brokerRepair(invocation: Invocation): Promise<number> {
  const dataDir = await dataDirOf('broker', invocation);
  const report = await repairBrokerDataDir(dataDir, createLogger({ name: 'broker-repair' }));
  await printReport('broker', dataDir, report, invocation);
  return 0;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

/** The report as lines a person reads, one fact each: what was dropped, what was kept, what was done. */
export function describeRepair(
  role: 'master' | 'broker',
  dataDir: string,
  report: DurableRepairReport,
): string[] {
  const lines: string[] = [];
  for (const snapshot of report.damagedSnapshots)
    lines.push(`${snapshot.file}: damaged (${snapshot.bytes} bytes), not used: ${snapshot.reason}`);
  for (const each of report.dropped) {
    const size =
      each.lines === 0
        ? plural(each.bytes, 'byte')
        : `${plural(each.lines, 'line')}, ${plural(each.bytes, 'byte')}`;
    const fate = each.lost ? 'dropped' : 'dropped (the snapshot already holds it)';
    lines.push(`${each.file}: ${fate} ${size} at byte ${each.offset}: ${each.reason}`);
  }
  for (const gap of report.missing) {
    const range = gap.fromSeq === gap.toSeq ? `seq ${gap.fromSeq}` : `seq ${gap.fromSeq} to ${gap.toSeq}`;
    lines.push(`lost: the changes with ${range} are in no file`);
  }
  const from =
    report.snapshotUsed === undefined
      ? 'the empty state'
      : `${basename(report.snapshotUsed.file)} (seq ${report.snapshotUsed.seq})`;
  lines.push(
    `kept: ${from} and ${plural(report.keptLines, 'log line')} after it (${plural(report.keptChanges, 'change')})`,
  );
  if (report.repaired) {
    lines.push(
      `repaired: wrote a new snapshot (seq ${report.seq}) and an empty log; the original files are in ${report.backupDir}`,
    );
    lines.push(`the ${role} can start: tubemq ${role} start --data-dir ${dataDir}`);
  } else {
    lines.push(`nothing to repair in ${dataDir}`);
  }
  return lines;
}

async function printReport(
  role: 'master' | 'broker',
  dataDir: string,
  report: DurableRepairReport,
  invocation: Invocation,
): Promise<void> {
  if (invocation.globals.json) await writeOut(JSON.stringify({ role, dataDir, ...report }, null, 2) + '\n');
  else await writeOut(describeRepair(role, dataDir, report).join('\n') + '\n');
}
