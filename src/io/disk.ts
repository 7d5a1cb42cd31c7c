import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import type { ByteSource } from "./byte-source.js";
import type { Folder } from "./folder.js";
import { fileInside } from "./inside.js";
import { checkRegularFile, fileKind } from "./regular-file.js";

/**
 * A file on disk as a ByteSource: opened at the first read and kept open until close(), so a
 * loader's thousands of reads of one checkpoint take one open. `size` is read now (a missing
 * file fails here, with `missing`'s message when given).
 */
export function fileSource(file: string, missing?: () => string): ByteSource {
  checkRegularFile(file);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(missing?.() ?? `cannot read ${file}: ${code === "ENOENT" ? "file not found" : String(code)}`);
  }
  return new FileSource(file, size);
}

class FileSource implements ByteSource {
  private fd: number | null = null;

  constructor(
    readonly name: string,
    readonly size: number,
  ) {}

  read(into: Uint8Array, position: number): number {
    this.fd ??= fs.openSync(this.name, "r");
    return fs.readSync(this.fd, into, 0, into.length, position);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** A model folder on disk. */
export function diskFolder(dir: string): Folder {
  return {
    where: dir,
    path: (name) => path.join(dir, name),
    has: (name) => fs.existsSync(path.join(dir, name)),
    checkInside: (name, listedIn) => void fileInside(dir, name, listedIn),
    open: (name) => fileSource(path.join(dir, name)),
    text: (name) => readText(path.join(dir, name)),
  };
}

/** A whole file as text; a FIFO, folder or device is refused before reading (it could block forever). */
export function readText(file: string): string {
  let stat: fs.Stats | null = null;
  try {
    stat = fs.statSync(file);
  } catch {
    // reported by the read below
  }
  if (stat !== null && !stat.isFile()) throw new UserError(`${file}: not a regular file (${fileKind(stat)})`);
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    const reason = err instanceof Error && "code" in err && err.code === "ENOENT" ? "file not found" : String(err);
    throw new UserError(`cannot read ${file}: ${reason.replace(/\s+/g, " ").trim()}`);
  }
}
