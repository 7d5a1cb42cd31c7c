import type { ServerResponse } from "node:http";
import type { LogprobCandidate, TokenLogprobs } from "../engine/logprobs.js";
import type { Tokenizer } from "../tokenizer/index.js";
import type { ChatMessage } from "./chat-template.js";
import { Choices } from "./choices.js";
import { checkModel, finishRequest, requestId, usage, type RequestSummary, type ServerContext } from "./context.js";
import { badParam } from "./errors.js";
import { EventStream, sendJson } from "./http.js";
import { MAX_LOGPROBS, MAX_N, optionalBool, optionalInt, parseSampling, parseStream, rejectUnsupported, type Body } from "./params.js";

const ROLES = ["system", "developer", "user", "assistant", "tool"];

interface ChatLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/** POST /v1/chat/completions */
export async function chatCompletions(ctx: ServerContext, body: Body, res: ServerResponse): Promise<RequestSummary> {
  checkModel(ctx, body);
  rejectUnsupported(body, ["tools", "functions", "logit_bias", "audio", "prediction"]);
  const format = body.response_format;
  if (format !== undefined && format !== null && !(typeof format === "object" && "type" in format && format.type === "text")) {
    throw badParam("response_format", 'only response_format {"type": "text"} is supported');
  }
  const messages = parseMessages(body.messages);
  const { text, stop } = ctx.chat.render(messages);
  const tok = ctx.engine.tokenizer;
  // The template writes the special tokens itself (bos_token included), so none are added, as
  // transformers' apply_chat_template does.
  const ids = tok.encode(text, { addSpecialTokens: false });
  const n = optionalInt(body, "n", 1, MAX_N) ?? 1;
  const given = optionalInt(body, "max_completion_tokens", 1) ?? optionalInt(body, "max_tokens", 1);
  // Without a limit the answer may run to the end of the context, as with OpenAI's chat API.
  const maxTokens = given ?? Math.max(1, ctx.engine.contextLength - ids.length);
  const params = parseSampling(body, maxTokens, stop);
  const wantLogprobs = optionalBool(body, "logprobs") ?? false;
  const topLogprobs = optionalInt(body, "top_logprobs", 0, MAX_LOGPROBS);
  if (topLogprobs !== undefined && !wantLogprobs) throw badParam("top_logprobs", "top_logprobs needs logprobs: true");
  const logprobs = wantLogprobs ? (topLogprobs ?? 0) : null;
  const { stream, includeUsage } = parseStream(body);
  const id = requestId("chatcmpl");
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], extra: object = {}): object => ({ id, object: "chat.completion.chunk", created, model: ctx.modelName, choices, ...extra });

  const events = new EventStream(res);
  const begun: boolean[] = [];
  const ended: boolean[] = [];
  const begin = (i: number): void => {
    if (begun[i]) return;
    begun[i] = true;
    events.send(chunk([{ index: i, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]));
  };
  const choices = new Choices(ctx.engine, {
    prompts: [ids],
    n,
    params,
    logprobs,
    promptLogprobs: null,
    promptParam: "messages",
    onToken: !stream
      ? undefined
      : (i, ev) => {
          begin(i);
          if (ev.piece !== "" || ev.logprobs !== null) {
            const lp = ev.logprobs === null || logprobs === null ? null : { content: [entry(tok, ev.logprobs, logprobs)], refusal: null };
            events.send(chunk([{ index: i, delta: { content: ev.piece }, logprobs: lp, finish_reason: null }]));
          }
          if (ev.finishReason !== null) {
            ended[i] = true;
            events.send(chunk([{ index: i, delta: {}, logprobs: null, finish_reason: ev.finishReason }]));
          }
        },
  });

  const { summary, results } = await finishRequest(
    { res, events, stream, includeUsage, id, n },
    choices,
    (i, r) => {
      begin(i);
      if (!ended[i]) events.send(chunk([{ index: i, delta: {}, logprobs: null, finish_reason: r.finishReason }]));
    },
    (u) => chunk([], { usage: u }),
  );
  if (results === null) return summary;

  sendJson(
    res,
    200,
    {
      id,
      object: "chat.completion",
      created,
      model: ctx.modelName,
      choices: results.map((r, i) => ({
        index: i,
        message: { role: "assistant", content: r.text, refusal: null },
        logprobs: logprobs === null ? null : { content: (r.logprobs ?? []).map((e) => entry(tok, e, logprobs)), refusal: null },
        finish_reason: r.finishReason,
      })),
      usage: usage(summary),
    },
    { "x-request-id": id },
  );
  return summary;
}

function parseMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw badParam("messages", "messages must be a non-empty list");
  const list: unknown[] = v;
  return list.map((m, i) => {
    const param = `messages[${i}]`;
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw badParam(param, `${param} must be an object`);
    const role = "role" in m ? m.role : undefined;
    if (typeof role !== "string" || !ROLES.includes(role)) throw badParam(`${param}.role`, `${param}.role must be one of ${ROLES.join(", ")}`);
    const content = "content" in m ? m.content : undefined;
    const name = "name" in m && typeof m.name === "string" ? m.name : undefined;
    return { role, content: contentText(content, `${param}.content`), ...(name === undefined ? {} : { name }) };
  });
}

/** Content is a string, null (an assistant turn that only called tools), or a list of text parts. */
function contentText(content: unknown, param: string): string {
  if (typeof content === "string") return content;
  if (content === null || content === undefined) return "";
  if (!Array.isArray(content)) throw badParam(param, `${param} must be a string or a list of content parts`);
  const parts: unknown[] = content;
  return parts
    .map((p) => {
      if (typeof p === "object" && p !== null && "type" in p && p.type === "text" && "text" in p && typeof p.text === "string") return p.text;
      throw badParam(param, `${param}: only text content parts are supported`);
    })
    .join("");
}

function entry(tok: Tokenizer, e: TokenLogprobs, topN: number): ChatLogprob {
  const one = (c: LogprobCandidate): { token: string; logprob: number; bytes: number[] } => ({
    token: tok.decode([c.id]),
    logprob: c.logprob,
    bytes: [...tok.tokenBytes(c.id)],
  });
  return { ...one(e), top_logprobs: e.top.slice(0, topN).map(one) };
}
