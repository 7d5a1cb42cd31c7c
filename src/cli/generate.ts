import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { LLM } from "../engine/llm.js";
import type { SamplingParams } from "../engine/sampling-params.js";
import { intFlag, loadOptions, modelOptions, modelSource, numberFlag, type FlagValues, type Command } from "./options.js";

export const generateHelp = `nanogpt-infer generate [PROMPT] [options]
  --model DIR|FILE.gguf|FILE.bin|org/name   model (default: the embedded shakespeare-byte-gpt2)
  --tokenizer FILE    the tokenizer.bin of a llama2.c FILE.bin checkpoint
  --prompt-ids 1,17,300  the prompt as token ids (for checkpoints without a tokenizer)
  --max-tokens N      tokens to generate (default 200, capped by the context)
  --temperature T     0 = greedy (default 0.8)
  --top-k K  --top-p P  --min-p M
  --repetition-penalty R  --presence-penalty P  --frequency-penalty F
  --seed S            same seed, same text
  --stop STR          stop before STR (repeatable)
  --ignore-eos        keep going after the end-of-text token
  --json              print {text, tokens, prompt_tokens, timings} instead of streaming
  --backend wasm|reference  --threads N  --dtype f32|f16|q8|q5|q4  --kv-dtype f32|f16 (KV cache elements)
  --simd auto|relaxed|baseline`;

export async function generateCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...modelOptions,
      "max-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      "min-p": { type: "string" },
      "repetition-penalty": { type: "string" },
      "presence-penalty": { type: "string" },
      "frequency-penalty": { type: "string" },
      seed: { type: "string" },
      stop: { type: "string", multiple: true },
      "ignore-eos": { type: "boolean" },
      "prompt-ids": { type: "string" },
    },
  });
  const flags: FlagValues = values;
  const prompt = positionals.join(" ");
  const givenIds = values["prompt-ids"] === undefined ? null : parsePromptIds(values["prompt-ids"]);
  if (givenIds !== null && prompt !== "") throw new UserError("give the prompt as text or as --prompt-ids, not both");
  const llm = await LLM.load(modelSource(flags), loadOptions(flags));
  try {
    // An empty prompt starts from the end-of-text token, as GPT-2 was trained to.
    const promptIds = givenIds ?? (prompt === "" ? [llm.tokenizer.bosTokenId ?? llm.tokenizer.eosTokenId ?? 0] : llm.tokenize(prompt, { addSpecialTokens: true }));
    const params: Partial<SamplingParams> = {
      maxTokens: intFlag(flags, "max-tokens", 0) ?? Math.max(1, Math.min(200, llm.contextLength - promptIds.length)),
      temperature: numberFlag(flags, "temperature") ?? 0.8,
      topK: intFlag(flags, "top-k", 0),
      topP: numberFlag(flags, "top-p"),
      minP: numberFlag(flags, "min-p"),
      repetitionPenalty: numberFlag(flags, "repetition-penalty"),
      presencePenalty: numberFlag(flags, "presence-penalty"),
      frequencyPenalty: numberFlag(flags, "frequency-penalty"),
      seed: intFlag(flags, "seed", 0),
      stop: values.stop,
      ignoreEos: values["ignore-eos"],
    };
    const generation = llm.generate(promptIds, params);
    if (values.json) {
      for await (const piece of generation) void piece;
      const r = await generation.result;
      process.stdout.write(JSON.stringify({ text: r.text, tokens: r.tokens, prompt_tokens: r.promptTokens, finish_reason: r.finishReason, timings: r.timings }) + "\n");
      return;
    }
    if (llm.tokenizer.hasText) {
      if (prompt !== "") process.stdout.write(prompt);
      for await (const piece of generation) process.stdout.write(piece);
      process.stdout.write("\n");
    } else {
      // No tokenizer, no text: the continuation is printed as ids.
      for await (const piece of generation) void piece;
      process.stdout.write((await generation.result).tokens.join(",") + "\n");
    }
    const t = (await generation.result).timings;
    if (!values.quiet) {
      process.stderr.write(
        `prompt: ${t.promptTokens} tokens, ${t.promptTokensPerSecond.toFixed(1)} tok/s | generated: ${t.generatedTokens} tokens, ${t.generatedTokensPerSecond.toFixed(1)} tok/s\n`,
      );
    }
  } finally {
    llm.close();
  }
}

/** "1,17,300" → [1, 17, 300]; each must be a non-negative integer (the model checks the range). */
export function parsePromptIds(text: string): number[] {
  const parts = text.split(",").map((p) => p.trim());
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new UserError(`--prompt-ids must be comma-separated token ids, got ${JSON.stringify(p)} in ${JSON.stringify(text)}`);
    return Number(p);
  });
}

export const command: Command = { run: generateCommand, help: generateHelp };
