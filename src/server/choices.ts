import { UserError } from "../errors.js";
import { QueueFullError, type LLMEngine, type SequenceHandle, type SequenceResult, type TokenEvent } from "../engine/llm-engine.js";
import type { SamplingParams } from "../engine/sampling-params.js";
import { HttpError } from "./errors.js";

export interface ChoicesRequest {
  /** Token ids of each prompt; every prompt gets n choices, choice index = prompt * n + j. */
  prompts: readonly (readonly number[])[];
  n: number;
  params: SamplingParams;
  logprobs: number | null;
  promptLogprobs: number | null;
  /** The request field to blame when a prompt does not fit. */
  promptParam: string;
  onToken?: (index: number, event: TokenEvent) => void;
}

/**
 * The sequences of one HTTP request, queued all at once or not at all. Choice i samples with
 * seed + i when a seed is given, so each is reproducible whatever else runs beside it.
 */
export class Choices {
  readonly handles: SequenceHandle[] = [];
  readonly done: Promise<SequenceResult[]>;

  constructor(engine: LLMEngine, r: ChoicesRequest) {
    for (const ids of r.prompts) {
      try {
        engine.validate(ids, r.params.maxTokens);
      } catch (e) {
        if (e instanceof UserError) throw new HttpError(400, e.message, "invalid_request_error", /max_tokens|KV pool/.test(e.message) ? "max_tokens" : r.promptParam);
        throw e;
      }
    }
    const total = r.prompts.length * r.n;
    if (!engine.canQueue(total)) {
      throw new HttpError(429, `the server is busy: its queue holds ${engine.maxQueue} waiting sequences; retry later`, "rate_limit_error", null, "queue_full");
    }
    try {
      r.prompts.forEach((promptIds, p) => {
        for (let j = 0; j < r.n; j++) {
          const index = p * r.n + j;
          const onToken = r.onToken;
          this.handles.push(
            engine.add({
              promptIds,
              params: r.params,
              seed: r.params.seed === null ? undefined : r.params.seed + index,
              logprobs: r.logprobs,
              promptLogprobs: r.promptLogprobs,
              onToken: onToken === undefined ? undefined : (event) => onToken(index, event),
            }),
          );
        }
      });
    } catch (e) {
      this.abort();
      if (e instanceof QueueFullError) throw new HttpError(429, e.message, "rate_limit_error", null, "queue_full");
      throw e;
    }
    this.done = Promise.all(this.handles.map((h) => h.result));
    this.done.catch(() => this.abort()); // one failed choice fails the request: stop the others
  }

  /** Cancels every unfinished choice, freeing its KV blocks now. */
  abort(): void {
    for (const h of this.handles) h.abort();
  }
}
