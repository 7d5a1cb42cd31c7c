import type { ServerResponse } from "node:http";
import type { TokenLogprobs } from "../engine/logprobs.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { Choices } from "./choices.js";
import { checkModel, finishRequest, requestId, usage, type RequestSummary, type ServerContext } from "./context.js";
import { badParam, HttpError } from "./errors.js";
import { EventStream, sendJson } from "./http.js";
import { MAX_LOGPROBS, MAX_N, optionalBool, optionalInt, parseSampling, parseStream, rejectUnsupported, type Body } from "./params.js";

/** OpenAI's legacy completion logprobs: parallel lists, one entry per token. */
interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

interface Prompt {
  text: string;
  ids: number[];
}

/** POST /v1/completions */
export async function completions(ctx: ServerContext, body: Body, res: ServerResponse): Promise<RequestSummary> {
  checkModel(ctx, body);
  rejectUnsupported(body, ["suffix", "logit_bias"]);
  const prompts = parsePrompts(ctx.engine.tokenizer, body.prompt);
  const n = optionalInt(body, "n", 1, MAX_N) ?? 1;
  const bestOf = optionalInt(body, "best_of", 1, MAX_N);
  if (bestOf !== undefined && bestOf !== n) throw badParam("best_of", "best_of is not supported (only best_of = n)");
  if (prompts.length * n > MAX_N) throw badParam("n", `${prompts.length} prompts × n = ${n} exceeds ${MAX_N} choices`);
  const maxTokens = optionalInt(body, "max_tokens", 0) ?? 16; // OpenAI's default for completions
  const params = parseSampling(body, maxTokens);
  const logprobs = optionalInt(body, "logprobs", 0, MAX_LOGPROBS) ?? null;
  const echo = optionalBool(body, "echo") ?? false;
  const { stream, includeUsage } = parseStream(body);
  const id = requestId("cmpl");
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], extra: object = {}): object => ({ id, object: "text_completion", created, model: ctx.modelName, choices, ...extra });
  const tok = ctx.engine.tokenizer;

  // Streaming state per choice: whether its echo went out, and its text offset for logprobs.
  const begun: boolean[] = [];
  const ended: boolean[] = [];
  const offsets: number[] = [];
  const events = new EventStream(res);
  const begin = (i: number): void => {
    if (begun[i]) return;
    begun[i] = true;
    offsets[i] = 0;
    if (!echo) return;
    const p = prompts[Math.floor(i / n)];
    const lp = logprobs === null ? null : legacy(tok, p.ids, [null, ...(choices.handles[i].promptLogprobs ?? [])], logprobs, 0);
    events.send(chunk([{ index: i, text: p.text, logprobs: lp, finish_reason: null }]));
    offsets[i] = p.text.length;
  };

  const choices = new Choices(ctx.engine, {
    prompts: prompts.map((p) => p.ids),
    n,
    params,
    logprobs,
    promptLogprobs: echo && logprobs !== null ? logprobs : null,
    promptParam: "prompt",
    onToken: !stream
      ? undefined
      : (i, ev) => {
          begin(i);
          if (ev.piece !== "" || ev.logprobs !== null) {
            const lp = ev.logprobs === null || logprobs === null ? null : legacy(tok, [ev.id], [ev.logprobs], logprobs, offsets[i]);
            events.send(chunk([{ index: i, text: ev.piece, logprobs: lp, finish_reason: null }]));
            offsets[i] += ev.piece.length;
          }
          if (ev.finishReason !== null) {
            ended[i] = true;
            events.send(chunk([{ index: i, text: "", logprobs: null, finish_reason: ev.finishReason }]));
          }
        },
  });

  const { summary, results } = await finishRequest(
    { res, events, stream, includeUsage, id, n },
    choices,
    (i, r) => {
      begin(i);
      if (!ended[i]) events.send(chunk([{ index: i, text: "", logprobs: null, finish_reason: r.finishReason }]));
    },
    (u) => chunk([], { usage: u }),
  );
  if (results === null) return summary;

  sendJson(
    res,
    200,
    chunk(
      results.map((r, i) => {
        const p = prompts[Math.floor(i / n)];
        let lp: LegacyLogprobs | null = null;
        if (logprobs !== null) {
          const out = legacy(tok, r.tokenIds, r.logprobs ?? [], logprobs, echo ? p.text.length : 0);
          lp = echo ? concat(legacy(tok, p.ids, [null, ...(r.promptLogprobs ?? [])], logprobs, 0), out) : out;
        }
        return { index: i, text: echo ? p.text + r.text : r.text, logprobs: lp, finish_reason: r.finishReason };
      }),
      { usage: usage(summary) },
    ),
    { "x-request-id": id },
  );
  return summary;
}

/** A prompt is a string, a list of strings, a list of token ids, or a list of such lists. */
function parsePrompts(tok: Tokenizer, v: unknown): Prompt[] {
  const bad = (): HttpError => badParam("prompt", "prompt must be a string, a list of strings, a list of token ids, or a list of lists of token ids");
  if (v === undefined || v === null) throw badParam("prompt", "prompt is required");
  const isIds = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((t) => typeof t === "number" && Number.isInteger(t));
  if (typeof v === "string") return [fromText(tok, v)];
  if (!Array.isArray(v) || v.length === 0) throw bad();
  const list: unknown[] = v;
  if (isIds(list)) return [{ text: tok.decode(list), ids: list }];
  if (list.every((x): x is string => typeof x === "string")) return list.map((s) => fromText(tok, s));
  if (list.every(isIds)) return list.map((ids) => ({ text: tok.decode(ids), ids }));
  throw bad();
}

/**
 * A text prompt gets the special tokens the model expects (Llama 2's BOS); an empty one with none
 * (GPT-2's) starts from the end-of-text token, as GPT-2 was trained to.
 */
function fromText(tok: Tokenizer, text: string): Prompt {
  const ids = tok.encode(text, { addSpecialTokens: true });
  return { text, ids: ids.length > 0 ? ids : [tok.bosTokenId ?? tok.eosTokenId ?? 0] };
}

function legacy(tok: Tokenizer, ids: readonly number[], entries: readonly (TokenLogprobs | null)[], topN: number, offset: number): LegacyLogprobs {
  const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  ids.forEach((id, i) => {
    const text = tok.decode([id]);
    const e = entries[i] ?? null;
    out.tokens.push(text);
    out.token_logprobs.push(e === null ? null : e.logprob);
    if (e === null) out.top_logprobs.push(null);
    else {
      const top: Record<string, number> = {};
      for (const c of e.top.slice(0, topN)) top[tok.decode([c.id])] = c.logprob;
      top[text] ??= e.logprob; // the chosen token is always listed, as vLLM does
      out.top_logprobs.push(top);
    }
    out.text_offset.push(offset);
    offset += text.length;
  });
  return out;
}

function concat(a: LegacyLogprobs, b: LegacyLogprobs): LegacyLogprobs {
  return {
    tokens: [...a.tokens, ...b.tokens],
    token_logprobs: [...a.token_logprobs, ...b.token_logprobs],
    top_logprobs: [...a.top_logprobs, ...b.top_logprobs],
    text_offset: [...a.text_offset, ...b.text_offset],
  };
}
