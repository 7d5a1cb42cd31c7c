#!/usr/bin/env node
import { UserError } from "../errors.js";
import { benchCommand, benchHelp } from "./bench.js";
import { convertHelp, runConvert } from "./convert.js";
import { generateCommand, generateHelp } from "./generate.js";
import { infoHelp, runInfo } from "./info.js";
import { joinNegativeNumbers } from "./options.js";
import { perplexityCommand, perplexityHelp } from "./perplexity.js";
import { serveCommand, serveHelp } from "./serve.js";
import { tokenizeCommand, tokenizeHelp } from "./tokenize.js";

type Command = { run: (argv: string[]) => Promise<void>; help: string };

const commands: Record<string, Command> = {
  generate: { run: generateCommand, help: generateHelp },
  tokenize: { run: tokenizeCommand, help: tokenizeHelp },
  perplexity: { run: perplexityCommand, help: perplexityHelp },
  bench: { run: benchCommand, help: benchHelp },
  serve: { run: serveCommand, help: serveHelp },
  convert: { run: runConvert, help: convertHelp },
  info: { run: runInfo, help: infoHelp },
};

const usage = `nanogpt-infer: GPT-2 inference in TypeScript

usage: nanogpt-infer [generate] [PROMPT] [options]
       nanogpt-infer <command> [options]

commands: ${Object.keys(commands).join(", ")}
"nanogpt-infer <command> --help" shows a command's options.`;

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h") {
    process.stdout.write(usage + "\n");
    return;
  }
  // A bare prompt means generate, so `nanogpt-infer "ROMEO:"` works.
  const command = first !== undefined && Object.hasOwn(commands, first) ? commands[first] : commands.generate;
  const args = command === commands.generate && first !== "generate" ? argv : rest;
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(command.help + "\n");
    return;
  }
  await command.run(joinNegativeNumbers(args));
}

function reportAndExit(e: unknown): never {
  const err = e instanceof Error ? e : new Error(String(e));
  // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed flags.
  const code = (err as NodeJS.ErrnoException).code;
  const isUsage = err instanceof UserError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"));
  process.stderr.write(`nanogpt-infer: ${isUsage ? "" : "internal error: "}${err.message.split("\n")[0]}\n`);
  if (process.env.NANOGPT_DEBUG) process.stderr.write(`${err.stack}\n`);
  process.exit(isUsage ? 1 : 70);
}

// Closed pipes (`| head`) end the program quietly instead of throwing EPIPE.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
});

main(process.argv.slice(2)).catch(reportAndExit);
