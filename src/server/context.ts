import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { AbortedError, type LLMEngine, type SequenceHandle, type SequenceResult } from "../engine/llm-engine.js";
import type { ChatTemplate } from "../chat/template.js";
import type { Choices } from "./choices.js";
import { HttpError } from "./errors.js";
import type { EventStream } from "./http.js";
import type { Body } from "./params.js";

/** What every endpoint handler shares. */
export interface ServerContext {
  readonly engine: LLMEngine;
  readonly modelName: string;
  readonly chat: ChatTemplate;
  readonly createdAt: number; // unix seconds, for /v1/models
}

/** What the access log and the metrics learn about a generation request. */
export interface RequestSummary {
  id: string;
  status: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  timeToFirstTokenMs: number | null;
}

export function requestId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString("hex")}`;
}

/** A request naming another model is refused the way OpenAI does; no model means this one. */
export function checkModel(ctx: ServerContext, body: Body): void {
  const m = body.model;
  if (m === undefined || m === null || m === ctx.modelName) return;
  if (typeof m !== "string") throw new HttpError(400, `model must be a string, got ${JSON.stringify(m)}`, "invalid_request_error", "model");
  throw new HttpError(404, `The model \`${m}\` does not exist; this server serves \`${ctx.modelName}\``, "invalid_request_error", "model", "model_not_found");
}

/**
 * Ties the choices to the connection: a client that goes away cancels them, freeing their KV
 * blocks at once. Resolves with the results, or null if the client left first.
 */
export async function settle(res: ServerResponse, choices: Choices): Promise<SequenceResult[] | null> {
  const onClose = (): void => {
    if (!res.writableEnded) choices.abort();
  };
  res.on("close", onClose);
  try {
    return await choices.done;
  } catch (e) {
    if (e instanceof AbortedError) return null;
    throw e;
  } finally {
    res.off("close", onClose);
  }
}

/** Usage and timing totals over the choices of a request; prompt tokens count once per prompt. */
export function summarize(id: string, status: number, handles: readonly SequenceHandle[], n: number): RequestSummary {
  let promptTokens = 0;
  let completionTokens = 0;
  let cachedTokens = 0;
  let first: number | null = null;
  handles.forEach((h, i) => {
    const promptLength = h.state.seq.promptIds.length;
    if (i % n === 0) {
      promptTokens += promptLength;
      cachedTokens += h.state.numCachedTokens;
    }
    completionTokens += h.completionTokens;
    if (h.firstTokenAt > 0) first = Math.min(first ?? Infinity, h.firstTokenAt - h.startedAt);
  });
  return { id, status, promptTokens, completionTokens, cachedTokens, timeToFirstTokenMs: first };
}

export function usage(s: RequestSummary): { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details: { cached_tokens: number } } {
  return {
    prompt_tokens: s.promptTokens,
    completion_tokens: s.completionTokens,
    total_tokens: s.promptTokens + s.completionTokens,
    prompt_tokens_details: { cached_tokens: s.cachedTokens },
  };
}

/** How one request's response goes out: streamed as events, or as one JSON body at the end. */
export interface ResponsePlan {
  readonly res: ServerResponse;
  readonly events: EventStream;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly id: string;
  readonly n: number;
}

/**
 * Waits for every choice of a request. A stream is finished here: every choice still open gets
 * its finish reason (closeChoice), then usage if asked (usageChunk), then [DONE]; a failure ends
 * it with an error event. `results` comes back only when the caller still has a JSON body to send.
 */
export async function finishRequest(
  plan: ResponsePlan,
  choices: Choices,
  closeChoice: (index: number, result: SequenceResult) => void,
  usageChunk: (u: ReturnType<typeof usage>) => object,
): Promise<{ summary: RequestSummary; results: SequenceResult[] | null }> {
  const { res, events, stream, id, n } = plan;
  if (stream) events.open({ "x-request-id": id });
  let results: SequenceResult[] | null;
  try {
    results = await settle(res, choices);
  } catch (e) {
    if (!stream) throw e;
    events.end(new HttpError(500, `generation failed: ${(e as Error).message}`, "server_error"));
    return { summary: summarize(id, 500, choices.handles, n), results: null };
  }
  if (results === null) return { summary: summarize(id, 499, choices.handles, n), results: null };
  const summary = summarize(id, 200, choices.handles, n);
  if (!stream) return { summary, results };
  results.forEach((r, i) => closeChoice(i, r));
  if (plan.includeUsage) events.send(usageChunk(usage(summary)));
  events.end();
  return { summary, results: null };
}
