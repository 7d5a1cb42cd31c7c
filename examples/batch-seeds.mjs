// Batch generation with a seed per sequence, on the serving engine (paged KV cache, continuous
// batching): three prompts decode together, one forward pass per step for all of them. Each
// sequence owns its sampler, and its keys and values do not depend on its neighbours, so a
// sequence run alone with the same seed gives the same text, token for token.
//   npm run build && node examples/batch-seeds.mjs
import assert from "node:assert/strict";
import { LLMEngine, defaultModelDir, resolveSamplingParams } from "../dist/src/index.js";

const engine = await LLMEngine.load(defaultModelDir(), { threads: 1, maxBatch: 4, quiet: true });
try {
  const params = resolveSamplingParams({ maxTokens: 60, temperature: 0.9, topK: 40 });
  const requests = [
    { prompt: "ROMEO:\n", seed: 1 },
    { prompt: "JULIET:\n", seed: 2 },
    { prompt: "ROMEO:\n", seed: 3 }, // same prompt as the first, another seed: another text
  ];
  // add() queues a sequence; the engine's loop admits all three into one running batch.
  const handles = requests.map(({ prompt, seed }) =>
    engine.add({ promptIds: engine.tokenizer.encode(prompt), params, seed }),
  );
  const results = await Promise.all(handles.map((h) => h.result));
  results.forEach((r, i) => {
    console.log(`--- sequence ${i}, seed ${r.seed}, ${r.tokenIds.length} tokens, ${r.finishReason}`);
    console.log(requests[i].prompt + r.text);
  });

  // The first sequence again, alone this time: same seed, same tokens.
  const alone = await engine.add({ promptIds: engine.tokenizer.encode(requests[0].prompt), params, seed: 1 }).result;
  assert.deepEqual(alone.tokenIds, results[0].tokenIds);
  console.log("--- seed 1 alone reproduces sequence 0:", alone.text === results[0].text);
} finally {
  engine.close();
}
