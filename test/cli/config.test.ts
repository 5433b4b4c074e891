// Daemon settings: flag > env > ini (TubeMQ key names) > default; bad ini values exit 2 naming the key.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadIniSection, resolveBrokerSettings, resolveMasterSettings } from '../../src/cli/config.js';
import { UsageError } from '../../src/cli/exit.js';

describe('daemon config precedence', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tubemq-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function ini(name: string, text: string): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, text);
    return file;
  }

  test('defaults without flags or file', () => {
    assert.deepEqual(resolveMasterSettings({}, undefined), {
      host: '127.0.0.1',
      port: 8715,
      dataDir: resolve('data/master'),
    });
    const broker = resolveBrokerSettings({ masters: '127.0.0.1:8715', mastersSource: 'default' }, undefined);
    assert.deepEqual(broker, {
      brokerId: 1,
      host: '127.0.0.1',
      port: 8123,
      dataDir: resolve('data/broker'),
      masters: '127.0.0.1:8715',
    });
  });

  test("broker.ini with TubeMQ's keys beats defaults; flags and env beat the file", async () => {
    const warnings: string[] = [];
    const file = await ini(
      'broker.ini',
      '; upstream file\n[broker]\nbrokerId = 7\nhostName = 10.0.0.5\nport = 9000\nwebPort = 8081\n' +
        'masterAddressList = m1:8715,m2:8715\nprimaryPath = ./store\nmystery = 1\n[zookeeper]\nzkServerAddr = x\n',
    );
    const section = await loadIniSection(file, 'broker', (line) => warnings.push(line));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /unknown key mystery in \[broker\]/);

    const fromFile = resolveBrokerSettings({ masters: '127.0.0.1:8715', mastersSource: 'default' }, section);
    assert.deepEqual(fromFile, {
      brokerId: 7,
      host: '10.0.0.5',
      port: 9000,
      dataDir: join(dir, 'store'),
      masters: 'm1:8715,m2:8715',
    });

    const fromEnv = resolveBrokerSettings({ masters: 'env:1', mastersSource: 'env' }, section);
    assert.equal(fromEnv.masters, 'env:1');
    const fromFlags = resolveBrokerSettings(
      { brokerId: 2, port: 0, dataDir: 'here', host: '0.0.0.0', masters: 'cli:1', mastersSource: 'cli' },
      section,
    );
    assert.deepEqual(fromFlags, {
      brokerId: 2,
      host: '0.0.0.0',
      port: 0,
      dataDir: resolve('here'),
      masters: 'cli:1',
    });
  });

  test("broker.ini's logClearupDurationMs sets how often retention runs", async () => {
    const file = await ini('clearup.ini', '[broker]\nlogClearupDurationMs = 500\n');
    const section = await loadIniSection(file, 'broker', () => assert.fail('no warning expected'));
    assert.equal(resolveBrokerSettings({ mastersSource: 'default' }, section).retentionCheckIntervalMs, 500);
    const zero = await loadIniSection(
      await ini('zero.ini', '[broker]\nlogClearupDurationMs = 0\n'),
      'broker',
      () => {},
    );
    assert.throws(() => resolveBrokerSettings({ mastersSource: 'default' }, zero), UsageError);
  });

  test('master.ini', async () => {
    const file = await ini(
      'master.ini',
      '[master]\nhostName = 0.0.0.0\nport = 8000\nwebPort = 8080\nmetaDataPath = meta\n',
    );
    const section = await loadIniSection(file, 'master', () => assert.fail('no warning expected'));
    assert.deepEqual(resolveMasterSettings({}, section), {
      host: '0.0.0.0',
      port: 8000,
      dataDir: join(dir, 'meta'),
    });
    assert.equal(resolveMasterSettings({ port: 1 }, section).port, 1);
  });

  test('a bad value or a missing file is a usage error naming it', async () => {
    const file = await ini('bad.ini', '[broker]\nport = eighty\n');
    const section = await loadIniSection(file, 'broker', () => undefined);
    assert.throws(
      () => resolveBrokerSettings({ mastersSource: 'default' }, section),
      (error: unknown) => error instanceof UsageError && /\[broker\] port = eighty/.test(error.message),
    );
    const list = await loadIniSection(
      await ini('list.ini', '[broker]\nmasterAddressList = nope\n'),
      'broker',
      () => {},
    );
    assert.throws(() => resolveBrokerSettings({ mastersSource: 'default' }, list), UsageError);
    await assert.rejects(
      loadIniSection(join(dir, 'absent.ini'), 'master', () => {}),
      UsageError,
    );
  });
});
