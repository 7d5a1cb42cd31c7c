import { UserError } from "../errors.js";
import { memorySource, type ByteSource } from "./byte-source.js";

/**
 * A model folder's files by name (config.json, model.safetensors, tokenizer.json, ...): a
 * folder on disk (disk.ts, Node) or files downloaded into memory (the browser).
 */
export interface Folder {
  /** The folder's path or URL, as messages name it. */
  readonly where: string;
  /** How messages name one of its files. */
  path(name: string): string;
  has(name: string): boolean;
  /** Refuses a file name listed in `listedIn` (an index, a listing) that would leave the folder. */
  checkInside(name: string, listedIn: string): void;
  open(name: string): ByteSource;
  /** A whole file as UTF-8 text. */
  text(name: string): string;
}

/** A Folder over files in memory, keyed by their names in the folder. */
export function memoryFolder(where: string, files: ReadonlyMap<string, Uint8Array>): Folder {
  const path = (name: string) => `${where.replace(/\/$/, "")}/${name}`;
  const bytes = (name: string): Uint8Array => {
    const b = files.get(name);
    if (b === undefined) throw new UserError(`cannot read ${path(name)}: file not found`);
    return b;
  };
  return {
    where,
    path,
    has: (name) => files.has(name),
    // Names are keys of the map: none leads anywhere else.
    checkInside: () => {},
    open: (name) => memorySource(path(name), bytes(name)),
    text: (name) => new TextDecoder().decode(bytes(name)),
  };
}
