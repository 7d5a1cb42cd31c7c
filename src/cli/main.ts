#!/usr/bin/env node
import { UserError } from "../errors.js";
import { joinNegativeNumbers, type Command } from "./options.js";

// Each command is imported only when it runs: `tokenize` or `generate` then never load the server,
// its template engine or the GGUF writer, and start sooner with less memory.
const commands: Record<string, () => Promise<{ command: Command }>> = {
  generate: () => import("./generate.js"),
  chat: () => import("./chat.js"),
  tokenize: () => import("./tokenize.js"),
  perplexity: () => import("./perplexity.js"),
  bench: () => import("./bench.js"),
  serve: () => import("./serve.js"),
  convert: () => import("./convert.js"),
  info: () => import("./info.js"),
  web: () => import("./web.js"),
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
  const named = first !== undefined && Object.hasOwn(commands, first);
  const { command } = await (named ? commands[first] : commands.generate)();
  const args = named ? rest : argv;
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
