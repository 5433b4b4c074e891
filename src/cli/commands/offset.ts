// `tubemq offset show <topic> [--group G] [--at TIME]`: the stored range of each partition, and
// with --group the committed offset and lag in Kafka's columns.
import { Admin } from '../../client/index.js';
import { clientOptions, type Invocation } from '../invocation.js';
import { printResult } from '../output.js';

/** `tubemq offset show`. */
export async function offsetShow(invocation: Invocation): Promise<number> {
  const topic = invocation.args[0] as string;
  const { options, globals } = invocation;
  const group = options.group as string | undefined;
  const at = options.at as number | undefined;
  const admin = new Admin(clientOptions(globals));
  try {
    if (group === undefined) {
      const offsets = await admin.listOffsets(topic, at === undefined ? {} : { timestampMs: at });
      await printResult(
        globals,
        offsets.map((row) => ({ topic, ...row })),
        () => ({
          headers: [
            'TOPIC',
            'PARTITION',
            'BROKER-ID',
            'EARLIEST',
            'LATEST',
            ...(at === undefined ? [] : ['OFFSET-AT-TIME']),
          ],
          rows: offsets.map((row) => [
            topic,
            row.partition,
            row.brokerId,
            row.earliest,
            row.latest,
            ...(at === undefined ? [] : [row.offsetAtTimestamp]),
          ]),
        }),
      );
      return 0;
    }
    const offsets = await admin.groupOffsets(group, topic);
    await printResult(
      globals,
      offsets.map((row) => ({ group, topic, ...row })),
      () => ({
        headers: [
          'GROUP',
          'TOPIC',
          'PARTITION',
          'CURRENT-OFFSET',
          'LOG-START-OFFSET',
          'LOG-END-OFFSET',
          'LAG',
        ],
        rows: offsets.map((row) => [
          group,
          topic,
          row.partition,
          row.committed,
          row.earliest,
          row.latest,
          row.lag,
        ]),
      }),
    );
    return 0;
  } finally {
    await admin.close();
  }
}
