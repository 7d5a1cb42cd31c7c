import fs from "node:fs";
import { UserError } from "../errors.js";

/**
 * Refuses a path that exists but is not a regular file, before anything opens it: opening a FIFO
 * for reading blocks until a writer comes (forever), a directory opens and then fails reads with
 * EISDIR, and a device such as /dev/zero never ends. A missing path passes, so each caller keeps
 * its own "not found" message.
 */
export function checkRegularFile(file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return;
  }
  if (!stat.isFile()) throw new UserError(`${file}: not a regular file (${fileKind(stat)})`);
}

/** What a non-regular path is, for messages. */
export function fileKind(stat: fs.Stats): string {
  if (stat.isDirectory()) return "a directory";
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  if (stat.isSocket()) return "a socket";
  return stat.isFile() ? "a regular file" : "not a file";
}
