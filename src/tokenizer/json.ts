import { UserError } from "../errors.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A tokenizer file's text that must hold a JSON object (all tokenizer files do); `file` names it in errors. */
export function parseJsonObject(text: string, file: string): JsonObject {
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
