import fs from "node:fs";
import { UserError } from "../../errors.js";
import { fileKind } from "../regular-file.js";
import { GGUF_MAGIC } from "../gguf.js";
import { parseHubId } from "./id.js";
import { parseHubGGUFId } from "./gguf-pick.js";

/**
 * What a `--model` string points at: an existing folder, a GGUF file (by extension, or by magic
 * for an existing file), a llama2.c checkpoint (a file named *.bin that is not GGUF; its header
 * is checked when read), or, when no such path exists, a Hub id "org/name[@revision]" or one
 * GGUF file of a Hub repository ("org/name:QUANT", "org/name/file.gguf": hub-gguf).
 * Anything else is treated as a folder so the folder loader reports it as missing.
 */
export type ModelSourceKind = "folder" | "gguf" | "llama2c" | "hub" | "hub-gguf";

export function classifyModelSource(source: string): ModelSourceKind {
  let stat: fs.Stats | null = null;
  try {
    stat = fs.statSync(source);
  } catch {
    stat = null;
  }
  if (stat?.isDirectory()) return "folder";
  if (stat !== null && !stat.isFile()) throw new UserError(`--model ${source}: not a regular file or a folder (${fileKind(stat)})`);
  if (stat === null && parseHubGGUFId(source) !== null) return "hub-gguf";
  if (source.toLowerCase().endsWith(".gguf")) return "gguf";
  if (stat?.isFile() && hasGGUFMagic(source)) return "gguf";
  if (source.toLowerCase().endsWith(".bin")) return "llama2c";
  if (stat === null && parseHubId(source) !== null) return "hub";
  return "folder";
}

function hasGGUFMagic(file: string): boolean {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(4);
    return fs.readSync(fd, buf, 0, 4, 0) === 4 && buf.readUInt32LE(0) === GGUF_MAGIC;
  } finally {
    fs.closeSync(fd);
  }
}
