// FETCH: read whole stored records from an offset and send them uncopied. A fetch at the log end
// parks until an append to its partition completes or maxWaitMs passes (long-poll, no sleeping).
// A fetch naming an owner (group member) is served only while that member holds the partition's
// lease: checked before reading and before parking, renewed on serving, and a parked one whose lease
// ends (released, its connection closed, expired and taken) answers empty at once.
import { fetchBytesMaxDefault, MiB } from '../../common/index.js';
import {
  decodeFetchRequest,
  encodeFetchResponse,
  type FetchRequest,
  type Frame,
  type Session,
} from '../../protocol/index.js';
import type { RawReadResult, ReadOptions } from '../../storage/index.js';
import type { BrokerContext } from '../context.js';
import type { WakeReason } from '../fetch-waiters.js';

/** Bytes one answer may carry, below the frame limit with room for the header. */
const fetchBytesCap = 16 * MiB - 64;
/** Longest park; also keeps setTimeout inside its 2^31 ms range. */
const maxWaitMsCap = 300_000;

// Sessions whose close already drops their parked fetches.
const sessionsWatched = new WeakSet<Session>();

/** Serves one FETCH request: at once when data exists, else when it lands or maxWaitMs passes. */
export function handleFetch(context: BrokerContext, frame: Frame, session: Session): Promise<Buffer[]> {
  const request = decodeFetchRequest(frame.body);
  const { topic, partition, offset } = request;
  context.hosting.check(topic, partition);
  const { owner } = request;
  const maxWaitMs = Math.min(request.maxWaitMs, maxWaitMsCap);
  const options = readOptions(request);
  // Offsets past the end or below the earliest are refused by readRaw (OFFSET_OUT_OF_RANGE with
  // {earliest, latest}); a fetch at or past the readable end (offsets handed out whose batches
  // have not reached their ack level yet) has something to wait for.
  // Asked first so an unknown topic or partition is NOT_FOUND before any lease check.
  const latest = context.storage.latestOffset(topic, partition);
  const parks =
    maxWaitMs > 0 &&
    !context.closing &&
    offset >= latest &&
    offset <= context.storage.nextOffset(topic, partition);
  // Renewed to cover the whole park: a member waiting on a quiet partition is not idle.
  if (owner !== undefined) {
    context.leases.requireAndRenew(
      owner.group,
      topic,
      partition,
      owner.memberId,
      parks ? Date.now() + maxWaitMs : undefined,
    );
  }
  // Whether the owner still holds the lease when the answer goes out; no owner: always.
  const stillHeld = (): boolean =>
    owner === undefined ||
    context.leases.holderOf(owner.group, topic, partition)?.memberId === owner.memberId;
  if (!parks) {
    return context.storage
      .readRaw(topic, partition, offset, options)
      .then((result) => (stillHeld() ? encodeRead(result) : emptyAnswer(context, topic, partition, offset)));
  }
  return new Promise<Buffer[]>((resolve, reject) => {
    const deadline = Date.now() + maxWaitMs;
    const park = (at: number): void => {
      if (!sessionsWatched.has(session)) {
        sessionsWatched.add(session);
        session.onClose(() => context.waiters.dropOwner(session));
      }
      let unwatch: (() => void) | undefined;
      const revoke = context.waiters.add(
        {
          topic,
          partition,
          owner: session,
          settle: (reason: WakeReason) => {
            unwatch?.();
            if (reason !== 'data' || !stillHeld()) {
              resolve(emptyAnswer(context, topic, partition, at));
              return;
            }
            context.storage.readRaw(topic, partition, at, options).then((result) => {
              // Every new record was filtered out by stream: keep waiting from past them.
              const left = deadline - Date.now();
              if (result.count === 0 && left > 0 && !context.closing) {
                try {
                  park(result.nextOffset);
                } catch (error) {
                  reject(error instanceof Error ? error : new Error(String(error)));
                }
                return;
              }
              // The lease may have ended during the read: its next owner reads these instead.
              if (!stillHeld()) {
                resolve(emptyAnswer(context, topic, partition, at));
                return;
              }
              if (owner !== undefined) {
                context.leases.requireAndRenew(owner.group, topic, partition, owner.memberId);
              }
              resolve(encodeRead(result));
            }, reject);
          },
        },
        Math.max(0, deadline - Date.now()),
      );
      if (owner !== undefined) {
        unwatch = context.leases.watch(owner.group, topic, partition, owner.memberId, revoke);
        // Lost between the check and now (cannot happen synchronously, but never park unwatched).
        if (unwatch === undefined) revoke();
      }
    };
    park(offset);
  });
}

function readOptions(request: FetchRequest): ReadOptions {
  const maxBytes = request.maxBytes > 0 ? Math.min(request.maxBytes, fetchBytesCap) : fetchBytesMaxDefault;
  return request.streamIds.length > 0 ? { maxBytes, streamIds: request.streamIds } : { maxBytes };
}

function encodeRead(result: RawReadResult): Buffer[] {
  // The chunks are storage's own buffers; encodeFetchResponse puts a header in front, no copy.
  return encodeFetchResponse({
    nextOffset: result.nextOffset,
    latestOffset: result.latestOffset,
    count: result.count,
    damagedSkipped: result.damagedSkipped,
    gapSkipped: result.gapSkipped,
    chunks: result.chunks,
  });
}

function emptyAnswer(context: BrokerContext, topic: string, partition: number, offset: number): Buffer[] {
  let latestOffset = offset;
  try {
    latestOffset = context.storage.latestOffset(topic, partition);
  } catch {
    // Storage is closing under us; the offset we waited at is still a true lower bound.
  }
  return encodeFetchResponse({
    nextOffset: offset,
    latestOffset,
    count: 0,
    damagedSkipped: 0,
    gapSkipped: 0,
    chunks: [],
  });
}
