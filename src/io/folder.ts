import { UserError } from "../errors.js";
import { readFully, type ByteSource } from "./byte-source.js";

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

/** A Folder over sources already at hand (files in memory), keyed by their names in the folder. */
export function memoryFolder(where: string, files: ReadonlyMap<string, ByteSource>): Folder {
  const path = (name: string) => `${where.replace(/\/$/, "")}/${name}`;
  const source = (name: string): ByteSource => {
    const s = files.get(name);
    if (s === undefined) throw new UserError(`cannot read ${path(name)}: file not found`);
    return s;
  };
  const bytes = (name: string): Uint8Array => {
    const s = source(name);
    const out = new Uint8Array(s.size);
    readFully(s, out, 0, path(name));
    return out;
  };
  return {
    where,
    path,
    has: (name) => files.has(name),
    // Names are keys of the map: none leads anywhere else.
    checkInside: () => {},
    open: source,
    text: (name) => new TextDecoder().decode(bytes(name)),
  };
}
