import { UserError } from "../errors.js";
import { resolveSamplingParams, type SamplingParams } from "../engine/sampling-params.js";
import { badParam, HttpError } from "./errors.js";

/**
 * Reading the fields OpenAI's completion and chat requests share, with a 400 naming the field
 * for every wrong type or value. null counts as absent, as in OpenAI's API.
 */
export type Body = Record<string, unknown>;

export const MAX_N = 128;
export const MAX_LOGPROBS = 20;

export function asBody(json: unknown): Body {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new HttpError(400, "the request body must be a JSON object");
  return json as Body;
}

export function optionalNumber(body: Body, name: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number") throw badParam(name, `${name} must be a number, got ${JSON.stringify(v)}`);
  // JSON.parse turns a literal beyond a double's range (1e999) into ±Infinity, which JSON.stringify would show as null.
  if (!Number.isFinite(v)) throw badParam(name, `${name} must be a finite number, got ${v} (the value is beyond a 64-bit float's range)`);
  return v;
}

export function optionalInt(body: Body, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = optionalNumber(body, name);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw badParam(name, `${name} must be an integer ${range}, got ${v}`);
  }
  return v;
}

export function optionalBool(body: Body, name: string): boolean | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badParam(name, `${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/** Fields this server does not implement: refused unless absent or a no-op value. */
export function rejectUnsupported(body: Body, names: readonly string[]): void {
  for (const name of names) {
    const v = body[name];
    const empty = v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
    if (!empty) throw badParam(name, `${name} is not supported by this server`);
  }
}

export interface StreamOptions {
  stream: boolean;
  includeUsage: boolean;
}

export function parseStream(body: Body): StreamOptions {
  const stream = optionalBool(body, "stream") ?? false;
  const so = body.stream_options;
  let includeUsage = false;
  if (so !== undefined && so !== null) {
    if (typeof so !== "object" || Array.isArray(so)) throw badParam("stream_options", "stream_options must be an object");
    if (!stream) throw badParam("stream_options", "stream_options is only allowed when stream is true");
    includeUsage = optionalBool(so as Body, "include_usage") ?? false;
  }
  return { stream, includeUsage };
}

function parseStop(body: Body): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > 16 || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw badParam("stop", "stop must be a non-empty string or a list of at most 16 non-empty strings");
  }
  return list;
}

/** The sampling fields of a request, validated; maxTokens is decided by the caller. */
export function parseSampling(body: Body, maxTokens: number, extraStop: readonly string[] = []): SamplingParams {
  const topK = optionalInt(body, "top_k", -1);
  const given: Partial<SamplingParams> = {
    maxTokens,
    temperature: optionalNumber(body, "temperature"),
    topP: optionalNumber(body, "top_p"),
    topK: topK === -1 ? 0 : topK, // vLLM's -1 means "off", as 0 does here
    minP: optionalNumber(body, "min_p"),
    repetitionPenalty: optionalNumber(body, "repetition_penalty"),
    presencePenalty: optionalNumber(body, "presence_penalty"),
    frequencyPenalty: optionalNumber(body, "frequency_penalty"),
    seed: optionalInt(body, "seed", 0, Number.MAX_SAFE_INTEGER - MAX_N * 1024),
    stop: [...parseStop(body), ...extraStop],
    ignoreEos: optionalBool(body, "ignore_eos"),
  };
  try {
    return resolveSamplingParams(given);
  } catch (e) {
    if (e instanceof UserError) throw new HttpError(400, e.message, "invalid_request_error", paramOf(e.message));
    throw e;
  }
}

/** resolveSamplingParams names the field first: "invalid top_p 3: ...". */
function paramOf(message: string): string | null {
  return /^invalid (\w+)/.exec(message)?.[1] ?? null;
}
