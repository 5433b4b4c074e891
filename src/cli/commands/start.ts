// `tubemq start`: one master and one broker (id 1) in this process, data under ./data — the dev
// cluster `npm start` runs. ports.json holds both addresses; tubemq.pid stops it.
import { join, resolve } from 'node:path';
import { Broker } from '../../broker/index.js';
import { createDaemonLogger } from '../../common/log-destination.js';
import { Master } from '../../master/index.js';
import { detach, listenAddress, runDaemon } from '../daemon.js';
import type { Invocation } from '../invocation.js';
import { status, writeOut } from '../output.js';

/** `tubemq start`. */
export async function startDevCluster(invocation: Invocation): Promise<number> {
  const { options, globals } = invocation;
  const dataDir = resolve(options.dataDir as string);
  const host = options.host as string;
  if (options.detach === true) {
    const ports = await detach('tubemq', dataDir, globals.timeoutMs);
    if (globals.json) {
      await writeOut(JSON.stringify(ports, null, 2) + '\n');
      return 0;
    }
    const master = listenAddress(ports.master as Record<string, unknown> | undefined);
    const broker = listenAddress(ports.broker as Record<string, unknown> | undefined);
    await writeOut(
      `tubemq running in the background (pid ${String(ports.pid)}): master ${master}, broker ${broker}\n`,
    );
    status(globals, `log: ${join(dataDir, 'tubemq.log')}`);
    status(globals, `stop it with \`kill $(cat ${join(dataDir, 'tubemq.pid')})\``);
    return 0;
  }
  return runDaemon({
    role: 'tubemq',
    dataDir,
    quiet: globals.quiet,
    start: async () => {
      const master = await Master.start({
        host,
        port: options.port as number,
        dataDir: join(dataDir, 'master'),
        logger: createDaemonLogger('master'),
      });
      let broker: Broker;
      try {
        broker = await Broker.start({
          brokerId: 1,
          host,
          port: options.brokerPort as number,
          dataDir: join(dataDir, 'broker'),
          masters: [{ host, port: master.port }],
          logger: createDaemonLogger('broker-1'),
        });
        await broker.whenRegistered();
      } catch (error) {
        await master.close();
        throw error;
      }
      const masterAddress = `${host}:${master.port}`;
      const defaultMaster = master.port === 8715 && host === '127.0.0.1';
      return {
        ports: {
          master: { host, port: master.port },
          broker: { host, port: broker.port, brokerId: 1 },
        },
        banner: [
          `tubemq is running: master ${masterAddress}, broker 1 on ${host}:${broker.port}, data in ${dataDir}`,
          defaultMaster
            ? 'try: tubemq topic create orders --partitions 3'
            : `try: tubemq -m ${masterAddress} topic create orders --partitions 3   (or export TUBEMQ_MASTER=${masterAddress})`,
          `stop it with Ctrl-C (or \`kill $(cat ${join(dataDir, 'tubemq.pid')})\`)`,
        ],
        close: async () => {
          await broker.close();
          await master.close();
        },
      };
    },
  });
}
