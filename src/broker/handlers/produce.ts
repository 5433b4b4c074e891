// PRODUCE: one request is one batch to one partition, appended with one storage call; the answer
// goes out once the batch is as durable as its ack level (raised to the topic's floor) promises.
import { decodeProduceRequest, encodeProduceResponse, type Frame } from '../../protocol/index.js';
import type { BrokerContext } from '../context.js';

/** Serves one PRODUCE request; storage refusals (MESSAGE_TOO_LARGE, BUSY, …) pass through as TubeErrors. */
export function handleProduce(context: BrokerContext, frame: Frame): Promise<Buffer> {
  const request = decodeProduceRequest(frame.body);
  const { topic, partition } = request;
  context.hosting.check(topic, partition);
  // The decoded messages already have the shape storage takes (views into the frame body, which
  // storage copies into its cache block before append returns), so they go in as they are.
  return context.storage.append(topic, partition, request.messages, { acks: request.acks }).then((result) => {
    // Woken only once acknowledged: a long-poll never hands out a batch its producer may still lose.
    context.waiters.wake(topic, partition);
    return encodeProduceResponse(result);
  });
}
