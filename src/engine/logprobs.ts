import { expNonPositive } from "./exp.js";

/** A token and its log-probability under the model's raw logits (before penalties and temperature). */
export interface LogprobCandidate {
  readonly id: number;
  readonly logprob: number;
}

/** The log-probability of one chosen token, and the `top` most likely tokens at that position. */
export interface TokenLogprobs extends LogprobCandidate {
  readonly top: readonly LogprobCandidate[];
}

/** log softmax(logits) at `id` plus the best `topN` alternatives (most likely first, lower id on ties). */
export function tokenLogprobs(logits: Float32Array, id: number, topN: number): TokenLogprobs {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += expNonPositive(logits[i] - max);
  const logZ = max + Math.log(sum);
  const top = topIndices(logits, topN).map((i) => ({ id: i, logprob: logits[i] - logZ }));
  return { id, logprob: logits[id] - logZ, top };
}

/** The indices of the k largest values, largest first: insertion into a short sorted list. */
function topIndices(values: Float32Array, k: number): number[] {
  const best: number[] = [];
  if (k <= 0) return best;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length === k && v <= values[best[k - 1]]) continue;
    let at = best.length < k ? best.length : k - 1;
    while (at > 0 && values[best[at - 1]] < v) at--;
    if (best.length < k) best.splice(at, 0, i);
    else {
      best.pop();
      best.splice(at, 0, i);
    }
  }
  return best;
}
