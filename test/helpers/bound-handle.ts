import { nodeFileIO, type FileHandleIO, type FileIO } from '../../src/common/file-io.js';

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

/** The real file system, with some methods of every data segment's handle replaced (to count or delay them). */
export function withDataFileHandles(override: (handle: FileHandleIO) => Partial<FileHandleIO>): FileIO {
  return {
    ...nodeFileIO,
    async open(filePath, options) {
      const handle = await nodeFileIO.open(filePath, options);
      return filePath.endsWith('.data') ? { ...bindHandle(handle), ...override(handle) } : handle;
    },
  };
}
