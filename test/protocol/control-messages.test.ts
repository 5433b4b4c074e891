// JSON control message codecs: golden bytes pin each body's exact compact JSON (field order
// included), round trips prove decode inverts encode, and one case per rule proves a bad field is
// refused with BAD_REQUEST naming it, on decode and on encode alike.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isTubeError, partitionsMax, storesMax } from '../../src/common/index.js';
import {
  type JsonMessage,
  brokerAssignmentPush,
  encodeError,
  brokerHeartbeatMessage,
  clusterStatusMessage,
  commitOffsetsMessage,
  createTopicMessage,
  describeTopicMessage,
  fetchOffsetsMessage,
  listBrokersMessage,
  listOffsetsMessage,
  listTopicsMessage,
  metadataMessage,
  opcodes,
  registerBrokerMessage,
} from '../../src/protocol/index.js';
import {
  assignment,
  assignmentJson,
  broker,
  controlNames,
  controlSamples,
  reverseKeys,
  topic,
  topicJson,
} from './control-samples.js';

const any = <Request, Response>(message: JsonMessage<Request, Response>): JsonMessage<unknown, unknown> =>
  message;

/** fast-check may build null-prototype objects; decoded JSON has ordinary ones with the same content. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function assertBadRequest(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error) => {
    assert.ok(isTubeError(error, 'BAD_REQUEST'), `expected BAD_REQUEST, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

// ---- arbitraries: every value the schemas accept, shaped like the real traffic --------------------

const topicName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const brokerId = fc.integer({ min: 1, max: 0xffff_ffff });
const partition = fc.integer({ min: 0, max: partitionsMax - 1 });
const offset = fc.maxSafeNat();
const host = fc.string({ minLength: 1, maxLength: 40 });
const port = fc.integer({ min: 1, max: 0xffff });
const ackLevel = fc.constantFrom('memory' as const, 'written' as const, 'fsync' as const);
const group = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  .filter((text) => ![...text].some((c) => c < ' ' || c === '\x7f') && Buffer.byteLength(text) <= 255);
const settings = {
  partitions: fc.integer({ min: 1, max: partitionsMax }),
  stores: fc.integer({ min: 1, max: storesMax }),
  retentionMs: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
  retentionBytes: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
  ackFloor: ackLevel,
};
const brokerInfo = fc.record({
  brokerId,
  host,
  port,
  state: fc.constantFrom('online' as const, 'offline' as const),
  registeredAtMs: offset,
  lastHeartbeatAtMs: offset,
});
const topicDescription = fc.record({
  name: topicName,
  ...settings,
  createdAtMs: offset,
  placement: fc.array(brokerId, { maxLength: 8 }),
});
const brokerAssignment = fc.record({
  version: offset,
  topics: fc.array(
    fc.record({ name: topicName, ...settings, hostedPartitions: fc.array(partition, { maxLength: 8 }) }),
    { maxLength: 4 },
  ),
});
const topicPartition = fc.record({ topic: topicName, partition });
const list = <T>(item: fc.Arbitrary<T>) => fc.array(item, { minLength: 1, maxLength: 5 });
const partitionOffset = fc.record({ topic: topicName, partition, offset });
const streamId = group;
const subscription = fc.record({ topic: topicName, streamIds: fc.array(streamId, { maxLength: 3 }) });
const groupState = fc.constantFrom('stable' as const, 'rebalancing' as const, 'empty' as const);

/** Valid requests and responses of every message, keyed like {@link controlSamples}. */
const arbitraries: Record<string, { request: fc.Arbitrary<unknown>; response: fc.Arbitrary<unknown> }> = {
  METADATA: {
    request: fc.record({ topics: fc.array(topicName, { maxLength: 5 }) }),
    response: fc.record({
      brokers: fc.array(brokerInfo, { maxLength: 3 }),
      topics: fc.array(topicDescription, { maxLength: 3 }),
    }),
  },
  CREATE_TOPIC: {
    request: fc.record(
      {
        name: topicName,
        partitions: settings.partitions,
        stores: settings.stores,
        brokers: list(brokerId),
        retentionMs: settings.retentionMs,
        retentionBytes: settings.retentionBytes,
        ackFloor: ackLevel,
        ifNotExists: fc.boolean(),
      },
      { requiredKeys: ['name', 'partitions'] },
    ),
    response: fc.record({ created: fc.boolean(), topic: topicDescription }),
  },
  LIST_TOPICS: {
    request: fc.constant({}),
    response: fc.record({ topics: fc.array(topicDescription, { maxLength: 3 }) }),
  },
  DESCRIBE_TOPIC: {
    request: fc.record({ name: topicName }),
    response: fc.record({ topic: topicDescription }),
  },
  REGISTER_BROKER: {
    request: fc.record({ brokerId, host, port }),
    response: fc.record({
      heartbeatIntervalMs: fc.integer({ min: 1, max: 3_600_000 }),
      assignment: brokerAssignment,
    }),
  },
  BROKER_HEARTBEAT: {
    request: fc.record({ brokerId, appliedVersion: offset }),
    response: fc.record({ assignment: brokerAssignment }, { requiredKeys: [] }),
  },
  LIST_BROKERS: {
    request: fc.constant({}),
    response: fc.record({ brokers: fc.array(brokerInfo, { maxLength: 3 }) }),
  },
  CLUSTER_STATUS: {
    request: fc.constant({}),
    response: fc.record({
      master: fc.record({
        masterId: fc.string({ minLength: 1, maxLength: 40 }),
        host,
        port,
        role: fc.constantFrom('leader' as const, 'standby' as const),
        startedAtMs: offset,
        metadataVersion: offset,
      }),
      brokers: fc.array(brokerInfo, { maxLength: 3 }),
      topicCount: offset,
      partitionCount: offset,
    }),
  },
  COMMIT_OFFSETS: {
    request: fc.record(
      {
        group,
        offsets: list(fc.record({ topic: topicName, partition, offset })),
        memberId: group,
        force: fc.boolean(),
      },
      { requiredKeys: ['group', 'offsets'] },
    ),
    response: fc.constant({}),
  },
  FETCH_OFFSETS: {
    request: fc.record({ group, partitions: list(topicPartition) }),
    response: fc.record({
      offsets: fc.array(
        fc.record({ topic: topicName, partition, offset: fc.option(offset, { nil: null }) }),
        {
          maxLength: 5,
        },
      ),
    }),
  },
  LIST_OFFSETS: {
    request: fc.record({
      partitions: list(
        fc.record(
          { topic: topicName, partition, timestampMs: offset },
          { requiredKeys: ['topic', 'partition'] },
        ),
      ),
    }),
    response: fc.record({
      offsets: fc.array(
        fc.record(
          { topic: topicName, partition, earliest: offset, latest: offset, offsetAtTimestamp: offset },
          { requiredKeys: ['topic', 'partition', 'earliest', 'latest'] },
        ),
        { maxLength: 5 },
      ),
    }),
  },
};

// The broker's lease and group-offset messages (opcodes 15-18).
Object.assign(arbitraries, {
  CLAIM_PARTITIONS: {
    request: fc.record({ group, memberId: group, partitions: list(topicPartition) }),
    response: fc.record({
      claims: fc.array(
        fc.record(
          { topic: topicName, partition, granted: fc.boolean(), holder: group },
          { requiredKeys: ['topic', 'partition', 'granted'] },
        ),
        { maxLength: 5 },
      ),
    }),
  },
  RELEASE_PARTITIONS: {
    request: fc.record({ group, memberId: group, partitions: list(topicPartition) }),
    response: fc.constant({}),
  },
  LIST_GROUP_OFFSETS: {
    request: fc.record({ group }, { requiredKeys: [] }),
    response: fc.record({
      offsets: fc.array(fc.record({ group, topic: topicName, partition, offset }), { maxLength: 5 }),
    }),
  },
  DELETE_GROUP_OFFSETS: {
    request: fc.record({ group }),
    response: fc.record({ deleted: offset }),
  },
  JOIN_GROUP: {
    request: fc.record(
      {
        group,
        clientId: group,
        subscriptions: list(subscription),
        sessionTimeoutMs: fc.integer({ min: 1000, max: 300_000 }),
        bound: fc.record({ sessionKey: group, offsets: fc.array(partitionOffset, { maxLength: 3 }) }),
      },
      { requiredKeys: ['group', 'clientId', 'subscriptions'] },
    ),
    response: fc.record({
      memberId: group,
      generation: offset,
      heartbeatIntervalMs: fc.integer({ min: 1, max: 1_000_000 }),
      sessionTimeoutMs: fc.integer({ min: 1, max: 1_000_000 }),
    }),
  },
  GROUP_HEARTBEAT: {
    request: fc.record({ group, memberId: group, owned: fc.array(topicPartition, { maxLength: 5 }) }),
    response: fc.record({ generation: offset }),
  },
  LEAVE_GROUP: {
    request: fc.record({ group, memberId: group }),
    response: fc.constant({}),
  },
  LIST_GROUPS: {
    request: fc.constant({}),
    response: fc.record({
      groups: fc.array(
        fc.record({
          group,
          state: groupState,
          members: offset,
          topics: fc.array(topicName, { maxLength: 3 }),
        }),
        { maxLength: 3 },
      ),
    }),
  },
  DESCRIBE_GROUP: {
    request: fc.record({ group }),
    response: fc.record(
      {
        group,
        state: groupState,
        generation: offset,
        subscriptions: fc.array(subscription, { maxLength: 3 }),
        session: fc.record({ sessionKey: fc.string(), applied: fc.boolean() }),
        members: fc.array(
          fc.record({
            memberId: group,
            clientId: fc.string(),
            host: fc.string(),
            joinedAtMs: offset,
            lastHeartbeatAtMs: offset,
            assigned: fc.array(topicPartition, { maxLength: 3 }),
            owned: fc.array(topicPartition, { maxLength: 3 }),
          }),
          { maxLength: 3 },
        ),
      },
      { requiredKeys: ['group', 'state', 'generation', 'subscriptions', 'members'] },
    ),
  },
  RESET_GROUP_OFFSETS: {
    request: fc.record(
      { group, offsets: list(partitionOffset), force: fc.boolean() },
      { requiredKeys: ['group', 'offsets'] },
    ),
    response: fc.record({ committed: offset }),
  },
  DELETE_GROUP: {
    request: fc.record({ group }),
    response: fc.record({ deletedOffsets: offset }),
  },
});

// ---- golden bytes ------------------------------------------------------------------------------

describe('control messages: golden bytes', () => {
  test('each message carries the opcode of the table', () => {
    // Goal: a codec sends under the opcode docs/protocol.md lists. Method: compare each with opcodes.
    for (const name of controlNames) {
      assert.equal(controlSamples[name].message.opcode, opcodes[name], name);
      assert.equal(controlSamples[name].message.name, name);
    }
    assert.equal(brokerAssignmentPush.opcode, opcodes.BROKER_ASSIGNMENT);
    assert.equal(brokerAssignmentPush.name, 'BROKER_ASSIGNMENT');
  });

  for (const name of controlNames) {
    test(`${name}: request and response encode to the documented bytes, whatever the key order`, () => {
      // Goal: the bytes never drift and do not depend on how the caller built the object. Method:
      // encode the sample as written and with every object's keys reversed; compare with literals.
      const { message, request, requestJson, response, responseJson } = controlSamples[name];
      for (const value of [request, reverseKeys(request)]) {
        assert.equal(message.encodeRequest(value).toString('hex'), Buffer.from(requestJson).toString('hex'));
      }
      for (const value of [response, reverseKeys(response)]) {
        assert.equal(
          message.encodeResponse(value).toString('hex'),
          Buffer.from(responseJson).toString('hex'),
        );
      }
      assert.deepEqual(message.decodeRequest(Buffer.from(requestJson)), request);
      assert.deepEqual(message.decodeResponse(Buffer.from(responseJson)), response);
    });
  }

  test('BROKER_ASSIGNMENT push encodes to the documented bytes', () => {
    // Goal: the push body never drifts. Method: encode the sample, reversed too, against a literal.
    assert.equal(brokerAssignmentPush.encode(assignment).toString(), assignmentJson);
    assert.equal(
      brokerAssignmentPush.encode(reverseKeys(assignment) as typeof assignment).toString(),
      assignmentJson,
    );
    assert.deepEqual(brokerAssignmentPush.decode(Buffer.from(assignmentJson)), assignment);
  });

  test('one golden body as hex, so the encoding is plain UTF-8 with no whitespace or BOM', () => {
    // Goal: pin the byte level once, not only the text. Method: a hand-written hex literal.
    assert.equal(
      describeTopicMessage.encodeRequest({ name: 'a' }).toString('hex'),
      '7b226e616d65223a2261227d', // {"name":"a"}
    );
  });

  test('absent optional fields are left out, not sent as null', () => {
    // Goal: the smallest CREATE_TOPIC and an empty heartbeat answer are what the docs show.
    assert.equal(
      createTopicMessage.encodeRequest({ name: 't', partitions: 1 }).toString(),
      '{"name":"t","partitions":1}',
    );
    assert.equal(brokerHeartbeatMessage.encodeResponse({}).toString(), '{}');
    assert.equal(
      listOffsetsMessage.encodeRequest({ partitions: [{ topic: 't', partition: 0 }] }).toString(),
      '{"partitions":[{"topic":"t","partition":0}]}',
    );
  });

  test('COMMIT_OFFSETS carries memberId and force after the offsets when given', () => {
    // Goal: the lease fields of a commit have fixed bytes too. Method: a literal with both.
    const json =
      '{"group":"g1","offsets":[{"topic":"orders","partition":2,"offset":42}],"memberId":"c1-7f3a","force":true}';
    const request = {
      force: true,
      memberId: 'c1-7f3a',
      offsets: [{ topic: 'orders', partition: 2, offset: 42 }],
      group: 'g1',
    };
    assert.equal(commitOffsetsMessage.encodeRequest(request).toString(), json);
    assert.deepEqual(commitOffsetsMessage.decodeRequest(Buffer.from(json)), {
      group: 'g1',
      offsets: [{ topic: 'orders', partition: 2, offset: 42 }],
      memberId: 'c1-7f3a',
      force: true,
    });
  });
});

// ---- round trips --------------------------------------------------------------------------------

describe('control messages: round trips', () => {
  for (const name of controlNames) {
    test(`${name}: decode inverts encode and re-encoding gives the same bytes`, () => {
      // Goal: no accepted value is changed by the wire. Method: fast-check valid requests and
      // responses; decode(encode(x)) equals x, and encode(decode(bytes)) equals bytes.
      const { message } = controlSamples[name];
      const { request, response } = arbitraries[name]!;
      fc.assert(
        fc.property(request, response, (requestValue, responseValue) => {
          const requestBytes = message.encodeRequest(requestValue);
          assert.deepEqual(message.decodeRequest(requestBytes), plain(requestValue));
          assert.ok(message.encodeRequest(message.decodeRequest(requestBytes)).equals(requestBytes));
          const responseBytes = message.encodeResponse(responseValue);
          assert.deepEqual(message.decodeResponse(responseBytes), plain(responseValue));
          assert.ok(message.encodeResponse(message.decodeResponse(responseBytes)).equals(responseBytes));
        }),
        { numRuns: 200 },
      );
    });
  }

  test('BROKER_ASSIGNMENT push round trips', () => {
    // Goal: as above, for the push. Method: fast-check assignments.
    fc.assert(
      fc.property(brokerAssignment, (value) => {
        assert.deepEqual(brokerAssignmentPush.decode(brokerAssignmentPush.encode(value)), plain(value));
      }),
      { numRuns: 200 },
    );
  });

  test('the arbitraries cover every message', () => {
    // Goal: a message added to the samples cannot silently skip the round-trip property.
    assert.deepEqual(Object.keys(arbitraries).sort(), [...controlNames].sort());
  });
});

// ---- forward compatibility ---------------------------------------------------------------------

describe('control messages: unknown fields', () => {
  test('are dropped on decode, at the top level and inside nested objects', () => {
    // Goal: a later version may add optional fields without breaking this one. Method: add a
    // field to each sample body (and to nested objects where there are some) and decode.
    for (const name of controlNames) {
      const { message, request, requestJson, response, responseJson } = controlSamples[name];
      const withExtra = (json: string): Buffer =>
        Buffer.from(json === '{}' ? '{"zNew":[1,{"x":2}]}' : `{"zNew":[1,{"x":2}],${json.slice(1)}`);
      const nested = (json: string): Buffer =>
        Buffer.from(json.replaceAll('"topic":"orders"', '"topic":"orders","extra":true'));
      assert.deepEqual(message.decodeRequest(withExtra(requestJson)), request, name);
      assert.deepEqual(message.decodeResponse(withExtra(responseJson)), response, name);
      assert.deepEqual(message.decodeRequest(nested(requestJson)), request, name);
      assert.deepEqual(message.decodeResponse(nested(responseJson)), response, name);
    }
    const extraInTopic = Buffer.from(`{"topic":{"future":1,${topicJson.slice(1)}}`);
    assert.deepEqual(describeTopicMessage.decodeResponse(extraInTopic), { topic });
    const extraInBroker = Buffer.from(
      `{"brokers":[{"rack":"r1","brokerId":1,${JSON.stringify(broker).slice(14)}]}`,
    );
    assert.deepEqual(listBrokersMessage.decodeResponse(extraInBroker), { brokers: [broker] });
    assert.deepEqual(
      brokerAssignmentPush.decode(Buffer.from(`{"epoch":3,${assignmentJson.slice(1)}`)),
      assignment,
    );
  });

  test('are dropped on encode, so the sender never leaks fields the schema does not know', () => {
    // Goal: what goes on the wire is exactly the schema. Method: encode values with extra fields.
    const request = { name: 'orders', secret: 'x' } as unknown as { name: string };
    assert.equal(describeTopicMessage.encodeRequest(request).toString(), '{"name":"orders"}');
    const extra = { ...assignment, debug: true } as unknown as typeof assignment;
    assert.equal(brokerAssignmentPush.encode(extra).toString(), assignmentJson);
  });
});

// ---- rules -------------------------------------------------------------------------------------

describe('control messages: every rule is refused with BAD_REQUEST naming the field', () => {
  const unsafe = '9007199254740992'; // 2^53: JSON carries it, a JavaScript number cannot hold 2^53 + 1
  const longTopic = 'a'.repeat(65);

  /** [message, side, body, what the message must say] */
  const cases: [JsonMessage<unknown, unknown>, 'request' | 'response', string, RegExp][] = [
    // Not JSON, or not an object.
    [any(metadataMessage), 'request', '{"topics":', /^METADATA request is not UTF-8 JSON: /],
    [any(metadataMessage), 'request', '', /^METADATA request is not UTF-8 JSON: /],
    [any(listTopicsMessage), 'request', '[]', /^LIST_TOPICS request is invalid: \(body\): /],
    [any(listTopicsMessage), 'request', 'null', /^LIST_TOPICS request is invalid: \(body\): /],
    [any(listBrokersMessage), 'response', '"x"', /^LIST_BROKERS response is invalid: \(body\): /],
    // Topic names: empty, bad first character, bad character, too long, not a string.
    [any(metadataMessage), 'request', '{"topics":[""]}', /topics\.0: must be 1-64 characters/],
    [any(metadataMessage), 'request', '{"topics":["ok","-a"]}', /topics\.1: must be 1-64 characters/],
    [any(metadataMessage), 'request', '{"topics":["a/b"]}', /topics\.0: must be 1-64/],
    [any(metadataMessage), 'request', `{"topics":["${longTopic}"]}`, /topics\.0: must be 1-64/],
    [any(metadataMessage), 'request', '{"topics":[7]}', /topics\.0: /],
    [any(metadataMessage), 'request', '{}', /^METADATA request is invalid: topics: /],
    [
      any(describeTopicMessage),
      'request',
      '{"name":"a b"}',
      /^DESCRIBE_TOPIC request is invalid: name: must be 1-64/,
    ],
    [any(createTopicMessage), 'request', '{"name":"..","partitions":1}', /name: must be 1-64/],
    // CREATE_TOPIC settings.
    [any(createTopicMessage), 'request', '{"name":"t"}', /^CREATE_TOPIC request is invalid: partitions: /],
    [any(createTopicMessage), 'request', '{"name":"t","partitions":0}', /partitions: Too small/],
    [
      any(createTopicMessage),
      'request',
      `{"name":"t","partitions":${partitionsMax + 1}}`,
      /partitions: Too big/,
    ],
    [any(createTopicMessage), 'request', '{"name":"t","partitions":1.5}', /partitions: .*int/],
    [any(createTopicMessage), 'request', '{"name":"t","partitions":"3"}', /partitions: /],
    [any(createTopicMessage), 'request', '{"name":"t","partitions":1,"stores":0}', /stores: Too small/],
    [
      any(createTopicMessage),
      'request',
      `{"name":"t","partitions":1,"stores":${storesMax + 1}}`,
      /stores: Too big/,
    ],
    [any(createTopicMessage), 'request', '{"name":"t","partitions":1,"brokers":[]}', /brokers: Too small/],
    [
      any(createTopicMessage),
      'request',
      '{"name":"t","partitions":1,"brokers":[0]}',
      /brokers\.0: Too small/,
    ],
    [
      any(createTopicMessage),
      'request',
      '{"name":"t","partitions":1,"brokers":[4294967296]}',
      /brokers\.0: Too big/,
    ],
    [
      any(createTopicMessage),
      'request',
      '{"name":"t","partitions":1,"retentionMs":-2}',
      /retentionMs: Too small/,
    ],
    [
      any(createTopicMessage),
      'request',
      `{"name":"t","partitions":1,"retentionMs":${unsafe}}`,
      /retentionMs: /,
    ],
    [
      any(createTopicMessage),
      'request',
      `{"name":"t","partitions":1,"retentionBytes":${unsafe}}`,
      /retentionBytes: /,
    ],
    [any(createTopicMessage), 'request', '{"name":"t","partitions":1,"ackFloor":"none"}', /ackFloor: /],
    [any(createTopicMessage), 'request', '{"name":"t","partitions":1,"ifNotExists":"yes"}', /ifNotExists: /],
    // Brokers.
    [any(registerBrokerMessage), 'request', '{"brokerId":0,"host":"h","port":1}', /brokerId: Too small/],
    [any(registerBrokerMessage), 'request', '{"brokerId":1,"host":"","port":1}', /host: Too small/],
    [any(registerBrokerMessage), 'request', '{"brokerId":1,"host":"h","port":0}', /port: Too small/],
    [any(registerBrokerMessage), 'request', '{"brokerId":1,"host":"h","port":65536}', /port: Too big/],
    [
      any(registerBrokerMessage),
      'response',
      `{"heartbeatIntervalMs":0,"assignment":${assignmentJson}}`,
      /heartbeatIntervalMs: /,
    ],
    [
      any(brokerHeartbeatMessage),
      'request',
      '{"brokerId":1,"appliedVersion":-1}',
      /appliedVersion: Too small/,
    ],
    [any(brokerHeartbeatMessage), 'request', `{"brokerId":1,"appliedVersion":${unsafe}}`, /appliedVersion: /],
    [any(brokerHeartbeatMessage), 'request', '{"brokerId":1,"appliedVersion":1.5}', /appliedVersion: .*int/],
    [any(brokerHeartbeatMessage), 'response', '{"assignment":{"version":1}}', /assignment\.topics: /],
    [
      any(listBrokersMessage),
      'response',
      `{"brokers":[${JSON.stringify({ ...broker, state: 'dead' })}]}`,
      /brokers\.0\.state: /,
    ],
    [
      any(clusterStatusMessage),
      'response',
      '{"master":{}}',
      /^CLUSTER_STATUS response is invalid: master\.masterId: /,
    ],
    // Topic descriptions in answers.
    [
      any(describeTopicMessage),
      'response',
      `{"topic":${topicJson.replace('[1,2,1]', '[1,0,1]')}}`,
      /topic\.placement\.1: Too small/,
    ],
    [
      any(listTopicsMessage),
      'response',
      `{"topics":[${topicJson.replace('"orders"', '"no good"')}]}`,
      /topics\.0\.name: must be 1-64/,
    ],
    // Partitions and offsets.
    [
      any(commitOffsetsMessage),
      'request',
      '{"group":"g","offsets":[]}',
      /^COMMIT_OFFSETS request is invalid: offsets: Too small/,
    ],
    [
      any(commitOffsetsMessage),
      'request',
      `{"group":"g","offsets":[{"topic":"t","partition":${partitionsMax},"offset":0}]}`,
      /offsets\.0\.partition: Too big/,
    ],
    [
      any(commitOffsetsMessage),
      'request',
      '{"group":"g","offsets":[{"topic":"t","partition":-1,"offset":0}]}',
      /offsets\.0\.partition: Too small/,
    ],
    [
      any(commitOffsetsMessage),
      'request',
      `{"group":"g","offsets":[{"topic":"t","partition":0,"offset":${unsafe}}]}`,
      /offsets\.0\.offset: /,
    ],
    [
      any(commitOffsetsMessage),
      'request',
      '{"group":"g","offsets":[{"topic":"t","partition":0,"offset":-1}]}',
      /offsets\.0\.offset: Too small/,
    ],
    [
      any(commitOffsetsMessage),
      'request',
      '{"group":"g","offsets":[{"topic":"t","partition":0}]}',
      /offsets\.0\.offset: /,
    ],
    [
      any(fetchOffsetsMessage),
      'request',
      '{"group":"g","partitions":[]}',
      /^FETCH_OFFSETS request is invalid: partitions: Too small/,
    ],
    [
      any(fetchOffsetsMessage),
      'request',
      '{"group":"g","partitions":[{"topic":"t","partition":1.5}]}',
      /partitions\.0\.partition: /,
    ],
    [
      any(fetchOffsetsMessage),
      'response',
      '{"offsets":[{"topic":"t","partition":0,"offset":-1}]}',
      /offsets\.0\.offset: /,
    ],
    [
      any(listOffsetsMessage),
      'request',
      '{"partitions":[]}',
      /^LIST_OFFSETS request is invalid: partitions: Too small/,
    ],
    [
      any(listOffsetsMessage),
      'request',
      '{"partitions":[{"topic":"t","partition":0,"timestampMs":-1}]}',
      /partitions\.0\.timestampMs: /,
    ],
    [
      any(listOffsetsMessage),
      'response',
      `{"offsets":[{"topic":"t","partition":0,"earliest":0,"latest":${unsafe}}]}`,
      /offsets\.0\.latest: /,
    ],
    // Group names: empty, a control character, DEL, over 255 UTF-8 bytes, not a string.
    [
      any(commitOffsetsMessage),
      'request',
      '{"group":"","offsets":[{"topic":"t","partition":0,"offset":0}]}',
      /^COMMIT_OFFSETS request is invalid: group: /,
    ],
    [
      any(fetchOffsetsMessage),
      'request',
      '{"group":"a\\nb","partitions":[{"topic":"t","partition":0}]}',
      /group: must not contain control characters/,
    ],
    [
      any(fetchOffsetsMessage),
      'request',
      '{"group":"a\\u007f","partitions":[{"topic":"t","partition":0}]}',
      /group: must not contain control characters/,
    ],
    [
      any(fetchOffsetsMessage),
      'request',
      `{"group":"${'é'.repeat(128)}","partitions":[{"topic":"t","partition":0}]}`,
      /group: must be at most 255 UTF-8 bytes/,
    ],
    [
      any(fetchOffsetsMessage),
      'request',
      '{"group":5,"partitions":[{"topic":"t","partition":0}]}',
      /group: /,
    ],
  ];

  for (const [message, side, body, expected] of cases) {
    test(`${message.name} ${side} ${body.length > 70 ? body.slice(0, 67) + '...' : body}`, () => {
      // Goal: this one rule is enforced and the error names the field. Method: decode the body.
      const decode = (bytes: Buffer): unknown =>
        side === 'request' ? message.decodeRequest(bytes) : message.decodeResponse(bytes);
      assertBadRequest(() => decode(Buffer.from(body)), expected);
    });
  }

  test('the BROKER_ASSIGNMENT push enforces its rules too', () => {
    // Goal: a broker refuses a malformed assignment rather than applying it. Method: bad partitions.
    const bad = assignmentJson.replace('[0,2]', `[0,${partitionsMax}]`);
    assertBadRequest(
      () => brokerAssignmentPush.decode(Buffer.from(bad)),
      /^BROKER_ASSIGNMENT push is invalid: topics\.0\.hostedPartitions\.1: Too big/,
    );
    assertBadRequest(() => brokerAssignmentPush.decode(Buffer.from('{"topics":[]}')), /version: /);
  });

  test('a body with thousands of bad entries names the first ten and counts the rest', () => {
    // Goal: the answer to a bad request stays small (10,000 bad entries once made a 20 KB request
    // answer with a 700 KB error). Method: 10,000 bad topic names; look at the message and its size.
    const body = Buffer.from(JSON.stringify({ topics: Array.from({ length: 10_000 }, () => '-') }));
    assert.throws(
      () => metadataMessage.decodeRequest(body),
      (error) => {
        assert.ok(isTubeError(error, 'BAD_REQUEST'));
        const issues = error.details.issues as string[];
        assert.equal(issues.length, 11);
        assert.match(issues[0]!, /^topics\.0: must be 1-64 characters/);
        assert.match(issues[9]!, /^topics\.9: /);
        assert.equal(issues[10], 'and 9990 more');
        assert.ok(encodeError(error).byteLength < 3000, `${encodeError(error).byteLength} bytes`);
        return true;
      },
    );
  });

  test('invalid UTF-8 is refused rather than replaced', () => {
    // Goal: a body is UTF-8 or nothing. Method: a name holding the byte 0xff.
    const body = Buffer.concat([Buffer.from('{"name":"a'), Buffer.from([0xff]), Buffer.from('"}')]);
    assertBadRequest(
      () => describeTopicMessage.decodeRequest(body),
      /^DESCRIBE_TOPIC request is not UTF-8 JSON: /,
    );
  });

  test('limits are inclusive: 64-character topic, 255-byte group, partition 1023, 2^53 - 1', () => {
    // Goal: the edges themselves pass, so the rules above reject exactly one past them.
    const name = 'a'.repeat(64);
    const group = 'é'.repeat(127) + 'a';
    const max = Number.MAX_SAFE_INTEGER;
    const request = { group, offsets: [{ topic: name, partition: partitionsMax - 1, offset: max }] };
    assert.deepEqual(
      commitOffsetsMessage.decodeRequest(commitOffsetsMessage.encodeRequest(request)),
      request,
    );
  });
});

describe('control messages: encode refuses an invalid value', () => {
  const clusterStatus = clusterStatusMessage.decodeResponse(
    Buffer.from(controlSamples.CLUSTER_STATUS.responseJson),
  );

  test('with BAD_REQUEST naming the message, the side and the field', () => {
    // Goal: a value the peer would refuse is caught on this side, before it is sent.
    assertBadRequest(
      () => metadataMessage.encodeRequest({ topics: ['ok', 'not ok'] }),
      /^cannot encode METADATA request: topics\.1: must be 1-64 characters/,
    );
    assertBadRequest(
      () => commitOffsetsMessage.encodeRequest({ group: 'g', offsets: [] }),
      /^cannot encode COMMIT_OFFSETS request: offsets: Too small/,
    );
    assertBadRequest(
      () => fetchOffsetsMessage.encodeRequest({ group: 'a\tb', partitions: [{ topic: 't', partition: 0 }] }),
      /^cannot encode FETCH_OFFSETS request: group: must not contain control characters/,
    );
    assertBadRequest(
      () =>
        listOffsetsMessage.encodeResponse({
          offsets: [{ topic: 't', partition: 0, earliest: 0, latest: 2 ** 53 }],
        }),
      /^cannot encode LIST_OFFSETS response: offsets\.0\.latest: /,
    );
    assertBadRequest(
      () => createTopicMessage.encodeRequest({ name: 't', partitions: partitionsMax + 1 }),
      /^cannot encode CREATE_TOPIC request: partitions: Too big/,
    );
    assertBadRequest(
      () => registerBrokerMessage.encodeRequest({ brokerId: 1, host: 'h', port: 0x10000 }),
      /^cannot encode REGISTER_BROKER request: port: Too big/,
    );
    assertBadRequest(
      () => clusterStatusMessage.encodeResponse({ ...clusterStatus, topicCount: -1 }),
      /^cannot encode CLUSTER_STATUS response: topicCount: Too small/,
    );
    assertBadRequest(
      () => brokerAssignmentPush.encode({ version: 1.5, topics: [] }),
      /^cannot encode BROKER_ASSIGNMENT push: version: /,
    );
  });

  test('with the same rules as decode: whatever encode refuses, decode refuses too', () => {
    // Goal: both ends enforce one schema. Method: fast-check mutates one field of a valid sample to
    // an arbitrary JSON value; encode and decode must agree on accepting or refusing it.
    const names = controlNames;
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.boolean(),
        fc.nat(),
        fc.jsonValue({ maxDepth: 2 }),
        (name, isRequest, pick, replacement) => {
          const { message, request, response } = controlSamples[name];
          const original = (isRequest ? request : response) as Record<string, unknown>;
          const keys = Object.keys(original);
          if (keys.length === 0) return;
          const value = { ...original, [keys[pick % keys.length]!]: replacement };
          const encode = (item: unknown): Buffer =>
            isRequest ? message.encodeRequest(item) : message.encodeResponse(item);
          const decode = (bytes: Buffer): unknown =>
            isRequest ? message.decodeRequest(bytes) : message.decodeResponse(bytes);
          let encoded: Buffer | undefined;
          try {
            encoded = encode(value);
          } catch (error) {
            assert.ok(isTubeError(error, 'BAD_REQUEST'));
          }
          const raw = Buffer.from(JSON.stringify(value));
          if (encoded === undefined) {
            assert.throws(
              () => decode(raw),
              (error) => isTubeError(error, 'BAD_REQUEST'),
            );
          } else {
            assert.deepEqual(decode(raw), decode(encoded));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
