// What the engine computes: at every step, the model's logits over the whole vocabulary, turned
// into next-token probabilities. This prints the top 5 candidates at each of 24 greedy steps.
//   npm run build && node examples/next-token-probs.mjs [PROMPT]
// The default model is byte-level: each token is one byte (256 is <|endoftext|>).
import { LLM, defaultModelDir } from "../dist/src/index.js";

const prompt = process.argv[2] ?? "First Citizen:\nBefore we proceed any further, hear me ";
const steps = 24;
const k = 5;

const llm = await LLM.load(defaultModelDir(), { threads: 1 });
try {
  // Greedy continuation (temperature 0 picks the most probable token every step).
  const { tokens } = llm.generateBatch([prompt], { maxTokens: steps, temperature: 0 })[0];
  const promptIds = llm.tokenize(prompt);
  const ids = [...promptIds, ...tokens];
  console.log(`prompt: ${JSON.stringify(prompt)} (${promptIds.length} tokens), vocabulary ${llm.shape.vocabSize}`);

  // One prefill over prompt + continuation gives the logits (V,) at every position; the logits at
  // position i predict token i + 1. Only the positions that predicted a generated token are shown.
  llm.forEachPositionLogits(ids, (pos, logits) => {
    if (pos < promptIds.length - 1 || pos + 1 >= ids.length) return;
    const probs = softmax(logits);
    const top = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, k);
    const chosen = ids[pos + 1];
    const cells = top.map((id) => `${show(llm.detokenize([id]))} ${(100 * probs[id]).toFixed(1).padStart(5)}%`);
    console.log(`step ${String(pos + 2 - promptIds.length).padStart(2)}  chose ${show(llm.detokenize([chosen]))}   top ${k}: ${cells.join("  ")}`);
  });
  console.log(`greedy text: ${JSON.stringify(llm.detokenize(tokens))}`);
} finally {
  llm.close();
}

function softmax(logits) {
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

function show(text) {
  return JSON.stringify(text).padEnd(6);
}
