import fs from "node:fs";
import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { loadSourceTokenizer } from "../model/load.js";
import { modelOptions, modelSource, stringFlag, type Command } from "./options.js";

export const tokenizeHelp = `nanogpt-infer tokenize [TEXT | --file F] [--model DIR] [--no-special] [--json]
  prints the token ids ({"ids": [...]} with --json), with the special tokens the tokenizer adds
  (Llama 2's BOS) as HF's encode does; --no-special adds none. DIR may hold only tokenizer files`;

export async function tokenizeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...modelOptions, file: { type: "string" }, "no-special": { type: "boolean" } } });
  const file = stringFlag(values, "file");
  if (file !== undefined && positionals.length > 0) throw new UserError("give either TEXT or --file, not both");
  const text = file !== undefined ? readText(file) : positionals.join(" ");
  const tokenizer = await loadSourceTokenizer(modelSource(values), { quiet: values.quiet, tokenizer: stringFlag(values, "tokenizer") });
  const ids = tokenizer.encode(text, { addSpecialTokens: values["no-special"] !== true });
  process.stdout.write(values.json ? JSON.stringify({ ids }) + "\n" : ids.join(" ") + "\n");
}

export function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    throw new UserError(`cannot read ${file}`);
  }
}

export const command: Command = { run: tokenizeCommand, help: tokenizeHelp };
