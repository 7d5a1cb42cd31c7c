// Streaming generation: text pieces are printed as the model produces them.
//   npm run build && node examples/stream.mjs
// Runs offline on the embedded default model (a 4.8M-parameter byte-level GPT-2 trained on
// Shakespeare); pass a model folder, a GGUF file or a Hub id as the first argument to use another.
import { LLM, defaultModelDir } from "../dist/src/index.js";

const source = process.argv[2] ?? defaultModelDir();
const prompt = "ROMEO:\n";
const llm = await LLM.load(source, { threads: 1 });
try {
  process.stdout.write(prompt);
  const generation = llm.generate(prompt, { maxTokens: 200, temperature: 0.8, topP: 0.95, seed: 42 });
  for await (const piece of generation) process.stdout.write(piece); // never half a UTF-8 character
  const { tokens, finishReason, timings } = await generation.result;
  process.stdout.write("\n");
  console.error(
    `${tokens.length} tokens (${finishReason}); prefill ${timings.promptTokensPerSecond.toFixed(0)} tok/s, ` +
      `decode ${timings.generatedTokensPerSecond.toFixed(0)} tok/s`,
  );
} finally {
  llm.close();
}
