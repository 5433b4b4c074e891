// What `npm start` runs until the daemons exist: the storage engine on ./data, end to end.
// It appends to a topic, reads it back, commits a group offset, reopens the engine (showing the
// recovery report) and prints the figures. Run it twice: offsets continue where they stopped.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { StorageEngine } from '../dist/index.js';

const dataDir = process.env.TUBEMQ_DATA_DIR ?? 'data';
const topic = 'demo';
const messageCount = 100_000;
const batchSize = 100;

let engine = await StorageEngine.open({ dataDir });
const created = await engine.createTopic(topic, { partitions: 3 }, { ifNotExists: true });
console.log(
  `topic ${topic}: ${created.partitions} partitions, ${created.stores} store, data in ./${dataDir}`,
);

const value = Buffer.alloc(1024, 'x');
const started = performance.now();
const firstOffsets = [];
const appends = [];
for (let sent = 0; sent < messageCount; sent += batchSize) {
  const partition = (sent / batchSize) % created.partitions;
  const batch = Array.from({ length: batchSize }, (_, i) => ({
    key: `k${sent + i}`,
    value,
    streamId: i % 2 ? 'odd' : 'even',
  }));
  appends.push(engine.append(topic, partition, batch, { acks: 'written' }));
  if (appends.length >= 16) firstOffsets.push(...(await Promise.all(appends.splice(0))));
}
firstOffsets.push(...(await Promise.all(appends)));
const seconds = (performance.now() - started) / 1000;
console.log(
  `appended ${messageCount} × 1 KiB in batches of ${batchSize} (acks=written): ` +
    `${Math.round(messageCount / seconds).toLocaleString('en')} msg/s, ${Math.round(messageCount / 1024 / seconds)} MiB/s`,
);

for (let partition = 0; partition < created.partitions; partition++) {
  const earliest = engine.earliestOffset(topic, partition);
  const latest = engine.latestOffset(topic, partition);
  const { messages } = await engine.read(topic, partition, Math.max(earliest, latest - 2), {
    maxMessages: 2,
  });
  const tail = messages.map((m) => `${m.offset}:${m.key?.toString()}`).join(' ');
  console.log(`partition ${partition}: offsets ${earliest}..${latest - 1}, last two: ${tail}`);
}
const filtered = await engine.read(topic, 0, engine.earliestOffset(topic, 0), {
  maxMessages: 5,
  streamIds: ['odd'],
});
console.log(`filtered read of stream "odd": offsets ${filtered.messages.map((m) => m.offset).join(', ')}`);

await engine.commitOffsets([
  { group: 'demo-group', topic, partition: 0, offset: engine.latestOffset(topic, 0) },
]);
await engine.close();

engine = await StorageEngine.open({ dataDir });
const report = engine.openReports.find((each) => each.topic === topic);
console.log(
  `reopened: clean=${report?.clean}, committed offset of demo-group on partition 0 = ${engine.committedOffset('demo-group', topic, 0)}`,
);
console.log(`stats: ${JSON.stringify(engine.stats())}`);
await engine.close();
console.log(
  'The master and broker daemons and the tubemq CLI arrive with the next milestone (docs/architecture.md).',
);
