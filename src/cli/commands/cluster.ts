// `tubemq cluster status`: the master, the brokers and their states, topic and partition counts.
import { Admin } from '../../client/index.js';
import { clientOptions, type Invocation } from '../invocation.js';
import { isoTime, renderTable, useColor, writeOut } from '../output.js';

/** `tubemq cluster status`. */
export async function clusterStatus(invocation: Invocation): Promise<number> {
  const { globals } = invocation;
  const admin = new Admin(clientOptions(globals));
  try {
    const cluster = await admin.clusterStatus();
    if (globals.json) {
      await writeOut(JSON.stringify(cluster, null, 2) + '\n');
      return 0;
    }
    const bold = useColor(globals);
    const { master } = cluster;
    const online = cluster.brokers.filter((broker) => broker.state === 'online').length;
    await writeOut(
      renderTable(
        ['MASTER-ID', 'ADDRESS', 'ROLE', 'STARTED', 'METADATA-VERSION'],
        [
          [
            master.masterId,
            `${master.host}:${master.port}`,
            master.role,
            isoTime(master.startedAtMs),
            master.metadataVersion,
          ],
        ],
        bold,
      ) +
        '\n' +
        renderTable(
          ['BROKER-ID', 'ADDRESS', 'STATE', 'LAST-HEARTBEAT'],
          cluster.brokers.map((broker) => [
            broker.brokerId,
            `${broker.host}:${broker.port}`,
            broker.state,
            isoTime(broker.lastHeartbeatAtMs),
          ]),
          bold,
        ) +
        `\n${cluster.brokers.length} brokers (${online} online), ${cluster.topicCount} topics, ` +
        `${cluster.partitionCount} partitions\n`,
    );
    return 0;
  } finally {
    await admin.close();
  }
}
