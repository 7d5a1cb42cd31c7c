import { UserError } from "../errors.js";

/**
 * Random access to one file's bytes wherever they are: a file on disk (disk.ts, Node) or bytes
 * already in memory (a download in the browser). The readers parse through this, so one parser
 * serves both; on disk only the header and one tensor at a time are ever read.
 */
export interface ByteSource {
  /** The path or URL, as messages name the file. */
  readonly name: string;
  readonly size: number;
  /** Copies bytes from `position` into `into`, as many as fit before the end; returns how many. */
  read(into: Uint8Array, position: number): number;
  /** Lets go of what reading holds (an open file); a later read takes it again. */
  close(): void;
}

/** A ByteSource over bytes in memory. */
export function memorySource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.length,
    read(into, position) {
      const n = Math.max(0, Math.min(into.length, bytes.length - position));
      into.set(bytes.subarray(position, position + n));
      return n;
    },
    close() {},
  };
}

/** Exactly into.length bytes from `position`, or a UserError naming `what` as truncated. */
export function readFully(source: ByteSource, into: Uint8Array, position: number, what: string): void {
  for (let done = 0; done < into.length; ) {
    const got = source.read(into.subarray(done), position + done);
    if (got === 0) throw new UserError(`${what} is truncated`);
    done += got;
  }
}

/** The last segment of a path or URL (path.basename without node:path). */
export function baseName(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}
