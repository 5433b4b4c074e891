import type { FileHandleIO } from '../../src/common/file-io.js';

/** A FileHandleIO's methods bound to it, so a test can override some of them with a spread. */
export function bindHandle(handle: FileHandleIO): FileHandleIO {
  return {
    path: handle.path,
    writev: (buffers, position) => handle.writev(buffers, position),
    writevDurable: (buffers, position) => handle.writevDurable(buffers, position),
    read: (buffer, bufferOffset, length, position) => handle.read(buffer, bufferOffset, length, position),
    datasync: () => handle.datasync(),
    truncate: (length) => handle.truncate(length),
    size: () => handle.size(),
    close: () => handle.close(),
  };
}
