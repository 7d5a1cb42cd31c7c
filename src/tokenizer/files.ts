import { readFile, stat } from "node:fs/promises";
import { UserError } from "../errors.js";

/**
 * File reading for the loader. Every failure becomes a one-line UserError naming the file, since
 * a broken or half-downloaded model folder is the user's to fix, not a crash to debug.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

export async function readText(file: string): Promise<string> {
  // A FIFO would block readFile forever and a directory fails with EISDIR: say what it is.
  const kind = await stat(file).then(
    (s) => (s.isFile() ? null : s.isDirectory() ? "a directory" : s.isFIFO() ? "a FIFO" : "a device or socket"),
    () => null,
  );
  if (kind !== null) throw new UserError(`${file}: not a regular file (${kind})`);
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const reason = err instanceof Error && "code" in err && err.code === "ENOENT" ? "file not found" : String(err);
    throw new UserError(`cannot read ${file}: ${oneLine(reason)}`);
  }
}

/** Parses a file that must hold a JSON object (all tokenizer files do). */
export async function readJsonObject(file: string): Promise<JsonObject> {
  const text = await readText(file);
  let value: Json;
  try {
    value = JSON.parse(text) as Json; // JSON.parse returns `any`; its output is Json by construction.
  } catch (err) {
    throw new UserError(`invalid JSON in ${file}: ${oneLine(err instanceof Error ? err.message : String(err))}`);
  }
  if (!isObject(value)) throw new UserError(`invalid ${file}: expected a JSON object at the top level`);
  return value;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}
