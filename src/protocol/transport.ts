// The protocol engine talks to this interface, never to a socket, so unit tests can drive it with
// a fake and e2e tests with a real `net.Socket` (aesthetics-anchors §9.3).
import type { Socket } from 'node:net';

/** A byte pipe to one peer. */
export interface Transport {
  /** Queues buffers to send, in order; ignored once closed. Several buffers go out in one write. */
  write(buffers: readonly Buffer[]): void;
  /** Registers the receiver of incoming chunks. Chunks must not be reused after delivery. */
  onData(callback: (chunk: Buffer) => void): void;
  /** Registers a callback run once when the pipe is closed, by either side, with the reason if any. */
  onClose(callback: (error?: Error) => void): void;
  /** Sends what is queued, then closes; `error` is the reason reported to `onClose`. */
  close(error?: Error): void;
}

// How long close() waits for queued bytes to drain before destroying the socket anyway, so a peer
// that stops reading cannot keep a closed connection alive.
const closeGraceMs = 1000;

/** Adapts a connected `net.Socket` to a {@link Transport}. */
export function socketTransport(socket: Socket): Transport {
  let reason: Error | undefined;
  // Without a listener a socket error would crash the process; it is reported through onClose.
  socket.on('error', (error) => {
    reason ??= error;
  });
  socket.setNoDelay(true);
  return {
    write(buffers) {
      if (socket.destroyed || !socket.writable) return;
      // cork/uncork turns the frames of one flush into one writev system call.
      socket.cork();
      for (const buffer of buffers) socket.write(buffer);
      socket.uncork();
    },
    onData(callback) {
      socket.on('data', callback);
    },
    onClose(callback) {
      socket.on('close', () => callback(reason));
    },
    close(error) {
      reason ??= error;
      if (socket.destroyed) return;
      // end() lets queued frames (such as a last error frame) reach the peer before the socket goes.
      socket.end(() => socket.destroy());
      const timer = setTimeout(() => socket.destroy(), closeGraceMs);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    },
  };
}
