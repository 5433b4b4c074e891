// `tubemq group list|describe|reset-offsets|delete`: consumer groups in kafka-consumer-groups'
// words and columns. reset-offsets only prints its plan unless --execute; delete needs --yes (or a
// y/N on a terminal).
import type { OffsetResetTarget } from '../../client/admin.js';
import { Admin } from '../../client/index.js';
import { confirmOrThrow } from '../confirm.js';
import { UsageError } from '../exit.js';
import { clientOptions, type Invocation } from '../invocation.js';
import { printResult, renderTable, status, useColor, writeOut } from '../output.js';
import type { TopicScope } from '../parsers.js';

/** `tubemq group list`. */
export async function groupList(invocation: Invocation): Promise<number> {
  const admin = new Admin(clientOptions(invocation.globals));
  try {
    const groups = await admin.listGroups();
    await printResult(invocation.globals, groups, () => ({
      headers: ['GROUP', 'STATE', 'MEMBERS', 'TOPICS'],
      rows: groups.map((group) => [group.group, group.state, group.members, group.topics.join(',')]),
    }));
    return 0;
  } finally {
    await admin.close();
  }
}

/** `tubemq group describe <group>`: the state line, then one row per partition in Kafka's columns. */
export async function groupDescribe(invocation: Invocation): Promise<number> {
  const group = invocation.args[0] as string;
  const { globals } = invocation;
  const admin = new Admin(clientOptions(globals));
  try {
    const description = await admin.describeGroup(group);
    if (globals.json) {
      await writeOut(JSON.stringify(description, null, 2) + '\n');
      return 0;
    }
    const session =
      description.session === undefined
        ? ''
        : `\tSession: ${description.session.sessionKey}${description.session.applied ? '' : ' (not applied yet)'}`;
    await writeOut(
      `Group: ${description.group}\tState: ${description.state}\tGeneration: ${description.generation}\t` +
        `Members: ${description.members.length}${session}\n\n`,
    );
    if (description.members.length === 0) {
      status(globals, `Consumer group ${group} has no active members.`);
    }
    await writeOut(
      renderTable(
        ['TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST'],
        description.partitions.map((row) => [
          row.topic,
          row.partition,
          row.currentOffset,
          row.logEndOffset,
          row.lag,
          row.consumerId,
          row.host,
        ]),
        useColor(globals),
      ),
    );
    return 0;
  } finally {
    await admin.close();
  }
}

/** The `--to-*` and `--shift-by` flags of reset-offsets. */
export interface ResetTargetFlags {
  toEarliest?: boolean | undefined;
  toLatest?: boolean | undefined;
  toOffset?: number | undefined;
  toDatetime?: number | undefined;
  shiftBy?: number | undefined;
}

/** The one reset target the flags name; a usage error unless exactly one is given. */
export function resetTarget(flags: ResetTargetFlags): OffsetResetTarget {
  const targets: OffsetResetTarget[] = [];
  if (flags.toEarliest === true) targets.push({ earliest: true });
  if (flags.toLatest === true) targets.push({ latest: true });
  if (flags.toOffset !== undefined) targets.push({ offset: flags.toOffset });
  if (flags.toDatetime !== undefined) targets.push({ timestampMs: flags.toDatetime });
  if (flags.shiftBy !== undefined) targets.push({ shiftBy: flags.shiftBy });
  if (targets.length !== 1) {
    throw new UsageError(
      targets.length === 0
        ? 'say where to move the offsets'
        : 'give only one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by',
      { hint: 'one of --to-earliest, --to-latest, --to-offset N, --to-datetime ISO, --shift-by ±N' },
    );
  }
  return targets[0]!;
}

/** `tubemq group reset-offsets <group> --topic T[:P,...] --to-... [--execute] [--force]`. */
export async function groupResetOffsets(invocation: Invocation): Promise<number> {
  const group = invocation.args[0] as string;
  const { options, globals } = invocation;
  const scopes = options.topic as TopicScope[];
  const to = resetTarget(options);
  const execute = options.execute === true;
  const force = options.force === true;
  const admin = new Admin(clientOptions(globals));
  try {
    const plan = await admin.planOffsetReset(group, { topics: scopes, to });
    if (execute) {
      await admin.resetGroupOffsets(
        group,
        plan.map(({ topic, partition, newOffset }) => ({ topic, partition, offset: newOffset })),
        { force },
      );
    }
    await printResult(globals, { group, executed: execute, offsets: plan }, () => ({
      headers: ['TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'NEW-OFFSET'],
      rows: plan.map((row) => [row.topic, row.partition, row.currentOffset, row.newOffset]),
    }));
    if (execute) {
      status(globals, `Reset the offsets of group ${group} in ${plan.length} partitions.`);
    } else {
      status(globals, 'Dry run: nothing changed. Add --execute to commit these offsets.');
    }
    return 0;
  } finally {
    await admin.close();
  }
}

/** `tubemq group delete <group> --yes`. */
export async function groupDelete(invocation: Invocation): Promise<number> {
  const group = invocation.args[0] as string;
  const { options, globals } = invocation;
  await confirmOrThrow({
    yes: options.yes === true,
    question: `Delete consumer group ${group} and all its committed offsets?`,
    action: `group delete ${group}`,
  });
  const admin = new Admin(clientOptions(globals));
  try {
    const deletedOffsets = await admin.deleteGroup(group);
    if (globals.json) {
      await writeOut(JSON.stringify({ group, deletedOffsets }, null, 2) + '\n');
    } else {
      await writeOut(`Deleted group ${group} (committed offsets of ${deletedOffsets} partitions).\n`);
    }
    return 0;
  } finally {
    await admin.close();
  }
}
