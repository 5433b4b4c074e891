// PRODUCE: one request is one batch to one partition, appended with one storage call; the answer
// goes out once the batch is as durable as its ack level (raised to the topic's floor) promises.
// PRODUCE_BATCHES: the same per batch, for the batches of several partitions in one request,
// each answered on its own: one batch's refusal never touches the others.
import { TubeError, isTubeError } from '../../common/index.js';
import {
  decodeProduceBatchesRequest,
  decodeProduceRequest,
  encodeProduceBatchesResponse,
  encodeProduceResponse,
  type Frame,
  type ProduceAcks,
  type ProduceBatchOutcome,
  type ProducedMessage,
} from '../../protocol/index.js';
import type { AppendResult } from '../../storage/index.js';
import type { BrokerContext } from '../context.js';

/** Serves one PRODUCE request; storage refusals (MESSAGE_TOO_LARGE, BUSY, …) pass through as TubeErrors. */
export function handleProduce(context: BrokerContext, frame: Frame): Promise<Buffer> {
  const request = decodeProduceRequest(frame.body);
  return appendBatch(context, request.topic, request.partition, request.messages, request.acks).then(
    encodeProduceResponse,
  );
}

/**
 * Serves one PRODUCE_BATCHES request. Every batch is checked and appended in request order (the
 * append calls are made synchronously in one loop, and storage orders appends by call order); a
 * batch's refusal (NOT_FOUND, UNAVAILABLE, MESSAGE_TOO_LARGE, BUSY, …; anything not a TubeError
 * becomes INTERNAL) is that batch's error outcome. Answers once every batch settled. Only a
 * malformed request fails as a whole (BAD_REQUEST).
 */
export function handleProduceBatches(context: BrokerContext, frame: Frame): Promise<Buffer> {
  const { acks, batches } = decodeProduceBatchesRequest(frame.body);
  const outcomes: ProduceBatchOutcome[] = new Array<ProduceBatchOutcome>(batches.length);
  let outstanding = batches.length;
  const settledAll = new Promise<ProduceBatchOutcome[]>((resolve) => {
    const settled = (index: number, outcome: ProduceBatchOutcome): void => {
      outcomes[index] = outcome;
      if (--outstanding === 0) resolve(outcomes);
    };
    for (let index = 0; index < batches.length; index++) {
      const { topic, partition, messages } = batches[index]!;
      let appended: Promise<AppendResult>;
      try {
        appended = appendBatch(context, topic, partition, messages, acks);
      } catch (error) {
        settled(index, { error: asTubeError(context, error, topic, partition) });
        continue;
      }
      appended.then(
        (result) => settled(index, { baseOffset: result.baseOffset, count: result.count }),
        (error: unknown) => settled(index, { error: asTubeError(context, error, topic, partition) }),
      );
    }
  });
  // Encoding runs in a promise callback, so a throw there rejects this request, nothing else.
  return settledAll.then(encodeProduceBatchesResponse);
}

/**
 * Checks that this broker serves topic/partition (throws synchronously if not) and appends.
 * Long-poll waiters wake when the partition's readable end moves (storage tells the broker).
 */
function appendBatch(
  context: BrokerContext,
  topic: string,
  partition: number,
  messages: ProducedMessage[],
  acks: ProduceAcks,
): Promise<AppendResult> {
  context.hosting.check(topic, partition);
  // The decoded messages already have the shape storage takes (views into the frame body, which
  // storage copies into its cache block before append returns), so they go in as they are.
  return context.storage.append(topic, partition, messages, { acks });
}

function asTubeError(context: BrokerContext, error: unknown, topic: string, partition: number): TubeError {
  if (isTubeError(error)) return error;
  context.logger.error({ err: error, topic, partition }, 'PRODUCE_BATCHES batch failed');
  return new TubeError('INTERNAL', `PRODUCE_BATCHES batch to ${topic}/${partition} failed on the server`, {
    cause: error,
  });
}
