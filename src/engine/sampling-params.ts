import { UserError } from "../errors.js";

/** How to pick each next token. The defaults follow OpenAI's API (and HF's generate). */
export interface SamplingParams {
  /** Tokens to generate at most. */
  maxTokens: number;
  /** 0 means greedy (argmax); otherwise logits are divided by it. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 keeps all. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability adds up to p; 1 keeps all. */
  topP: number;
  /** Drop tokens less likely than min_p × the most likely one; 0 keeps all. */
  minP: number;
  /** HF/CTRL penalty on every token already in the prompt or output: > 1 discourages repeats. */
  repetitionPenalty: number;
  /** OpenAI penalties on tokens already generated: once (presence) or per occurrence (frequency). */
  presencePenalty: number;
  frequencyPenalty: number;
  /** Same seed, same tokens. null picks a random seed. */
  seed: number | null;
  /** Generation ends before any of these strings; the stop string is not returned. */
  stop: string[];
  /** Keep going after the end-of-text token instead of stopping. */
  ignoreEos: boolean;
}

export const DEFAULT_SAMPLING: Readonly<SamplingParams> = {
  maxTokens: 64,
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  seed: null,
  stop: [],
  ignoreEos: false,
};

/** Fills in defaults and rejects out-of-range values with a message naming the parameter. */
export function resolveSamplingParams(given: Partial<SamplingParams>): SamplingParams {
  const p: SamplingParams = { ...DEFAULT_SAMPLING, ...stripUndefined(given) };
  const check = (ok: boolean, name: string, value: unknown, range: string): void => {
    if (!ok) throw new UserError(`invalid ${name} ${JSON.stringify(value)}: must be ${range}`);
  };
  const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  check(Number.isInteger(p.maxTokens) && p.maxTokens >= 0, "max_tokens", p.maxTokens, "an integer >= 0");
  check(isNum(p.temperature) && p.temperature >= 0, "temperature", p.temperature, "a number >= 0");
  check(Number.isInteger(p.topK) && p.topK >= 0, "top_k", p.topK, "an integer >= 0 (0 disables it)");
  check(isNum(p.topP) && p.topP > 0 && p.topP <= 1, "top_p", p.topP, "in (0, 1]");
  check(isNum(p.minP) && p.minP >= 0 && p.minP <= 1, "min_p", p.minP, "in [0, 1]");
  check(isNum(p.repetitionPenalty) && p.repetitionPenalty > 0, "repetition_penalty", p.repetitionPenalty, "a number > 0");
  check(isNum(p.presencePenalty) && Math.abs(p.presencePenalty) <= 2, "presence_penalty", p.presencePenalty, "in [-2, 2]");
  check(isNum(p.frequencyPenalty) && Math.abs(p.frequencyPenalty) <= 2, "frequency_penalty", p.frequencyPenalty, "in [-2, 2]");
  check(p.seed === null || (Number.isSafeInteger(p.seed) && p.seed >= 0), "seed", p.seed, "a non-negative integer");
  check(Array.isArray(p.stop) && p.stop.every((s) => typeof s === "string" && s.length > 0), "stop", p.stop, "a list of non-empty strings");
  return p;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
