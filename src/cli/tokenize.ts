import fs from "node:fs";
import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { loadSourceTokenizer } from "../model/load.js";
import { modelOptions, modelSource, stringFlag, type Command } from "./options.js";

export const tokenizeHelp = `nanogpt-infer tokenize [TEXT | --file F] [--model DIR] [--json]
  prints the token ids ({"ids": [...]} with --json)`;

export async function tokenizeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...modelOptions, file: { type: "string" } } });
  const file = stringFlag(values, "file");
  if (file !== undefined && positionals.length > 0) throw new UserError("give either TEXT or --file, not both");
  const text = file !== undefined ? readText(file) : positionals.join(" ");
  const tokenizer = await loadSourceTokenizer(modelSource(values), { quiet: values.quiet, tokenizer: stringFlag(values, "tokenizer") });
  const ids = tokenizer.encode(text);
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
