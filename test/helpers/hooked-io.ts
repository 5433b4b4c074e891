// A FileIO that calls a test's hook before each mutating call, so a test can fail a call (throw
// from the hook: ENOSPC on a write, EIO on a sync or a rename) or hold it (await in the hook) to
// see what is visible while the disk is busy. Everything else is the real file system.
import { nodeFileIO, type FileIO } from '../../src/common/file-io.js';
import { bindHandle } from './bound-handle.js';

/** The mutating calls a hook sees. */
export type HookedOperation =
  'create' | 'writev' | 'datasync' | 'truncate' | 'rename' | 'unlink' | 'syncDirectory';

/** Called before each mutating call with the path it acts on; throw to fail it, await to hold it. */
export type FileHook = (operation: HookedOperation, filePath: string) => void | Promise<void>;

/** An errno-style error such as Node's fs functions reject with. */
export function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected by the test`), { code });
}

/** The real file system with `hook` run before every mutating call. */
export function hookedFileIO(hook: FileHook, inner: FileIO = nodeFileIO): FileIO {
  return {
    ...inner,
    async open(filePath, options) {
      if (options?.create === true) await hook('create', filePath);
      const handle = bindHandle(await inner.open(filePath, options));
      return {
        ...handle,
        async writev(buffers, position) {
          await hook('writev', filePath);
          return handle.writev(buffers, position);
        },
        async datasync() {
          await hook('datasync', filePath);
          return handle.datasync();
        },
        async truncate(length) {
          await hook('truncate', filePath);
          return handle.truncate(length);
        },
      };
    },
    async rename(from, to) {
      await hook('rename', from);
      return inner.rename(from, to);
    },
    async unlink(filePath) {
      await hook('unlink', filePath);
      return inner.unlink(filePath);
    },
    async syncDirectory(dirPath) {
      await hook('syncDirectory', dirPath);
      return inner.syncDirectory(dirPath);
    },
  };
}
