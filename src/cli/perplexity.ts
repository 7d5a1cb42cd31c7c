import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { LLM } from "../engine/llm.js";
import { intFlag, loadOptions, modelOptions, modelSource, stringFlag, type Command } from "./options.js";
import { readText } from "./tokenize.js";

export const perplexityHelp = `nanogpt-infer perplexity --file F [--model DIR] [--context N] [--dtype f32|f16|q8] [--kv-dtype f32|f16] [--simd auto|relaxed|baseline] [--json]
  mean next-token loss over consecutive, non-overlapping windows of N tokens (default: the context)`;

export async function perplexityCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { ...modelOptions, file: { type: "string" }, context: { type: "string" } } });
  const file = stringFlag(values, "file");
  if (file === undefined) throw new UserError("perplexity needs --file F");
  const text = readText(file);
  const llm = await LLM.load(modelSource(values), loadOptions(values));
  try {
    // As HF's perplexity recipe: the text encoded once, with the special tokens it gets (Llama 2's BOS first).
    const ids = llm.tokenize(text, { addSpecialTokens: true });
    const t0 = performance.now();
    const r = llm.perplexity(ids, intFlag(values, "context", 2) ?? llm.contextLength);
    const seconds = (performance.now() - t0) / 1000;
    if (values.json) process.stdout.write(JSON.stringify({ tokens: r.tokens, nll: r.nll, ppl: r.ppl }) + "\n");
    else process.stdout.write(`tokens ${r.tokens}  predictions ${r.predictions}  nll ${r.nll.toFixed(5)}  ppl ${r.ppl.toFixed(4)}  (${(r.tokens / seconds).toFixed(0)} tok/s)\n`);
  } finally {
    llm.close();
  }
}

export const command: Command = { run: perplexityCommand, help: perplexityHelp };
