import readline from "node:readline";
import { parseArgs } from "node:util";
import { Conversation } from "../chat/history.js";
import { chatPrompt, type ChatPrompt } from "../chat/prompt.js";
import { ChatTemplate, ChatTemplateError, type ChatMessage } from "../chat/template.js";
import { UserError } from "../errors.js";
import { AbortedError, LLMEngine, type SequenceHandle } from "../engine/llm-engine.js";
import { resolveSamplingParams, type SamplingParams } from "../engine/sampling-params.js";
import { intFlag, loadOptions, modelOptions, modelSource, numberFlag, type Command, type FlagValues } from "./options.js";

export const chatHelp = `nanogpt-infer chat [options]
  --model DIR|FILE.gguf|org/name   model (default: the embedded shakespeare-byte-gpt2)
  --system TEXT       a system message, kept however long the conversation grows
  --max-tokens N      longest reply (default 256, at most half the context)
  --temperature T     0 = greedy (default 0.8)
  --seed S            same seed, same replies
  --backend wasm|reference  --threads N  --dtype f32|f16|q8
Each line is a message; /reset forgets the conversation, /exit or Ctrl-D quits. Ctrl-C stops a
reply, and quits at the prompt. With stdin piped, each reply is printed on a line of its own.
Old exchanges are dropped (with a note on stderr) when the context is full; the system message stays.`;

/** Longest reply by default, unless the context is shorter than twice this. */
const DEFAULT_REPLY_TOKENS = 256;
/** Exit status after Ctrl-C at the prompt, as shells report a SIGINT (128 + 2). */
const INTERRUPTED_EXIT = 130;

export async function chatCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { ...modelOptions, system: { type: "string" }, "max-tokens": { type: "string" }, temperature: { type: "string" }, seed: { type: "string" } },
  });
  const flags: FlagValues = values;
  if (values.json) throw new UserError("chat streams text: --json is not supported (use serve for JSON)");
  const sampling = { temperature: numberFlag(flags, "temperature") ?? 0.8, seed: intFlag(flags, "seed", 0) ?? null };
  resolveSamplingParams(sampling); // a bad value fails before the model loads
  const givenMax = intFlag(flags, "max-tokens", 1);

  // One sequence at a time, with prefix caching: each turn's prompt extends the last one, so only
  // the new messages are prefilled.
  const engine = await LLMEngine.load(modelSource(flags), { ...loadOptions(flags), maxBatch: 1 });
  try {
    if (!engine.tokenizer.hasText) throw new UserError("chat needs a model with a tokenizer: this one reads and writes token ids only");
    const context = engine.contextLength;
    const maxReply = givenMax ?? Math.min(DEFAULT_REPLY_TOKENS, Math.floor(context / 2));
    if (maxReply >= context) throw new UserError(`--max-tokens ${maxReply} leaves no room for a prompt in the context of ${context} tokens`);
    const template = new ChatTemplate(engine.tokenizer);
    if (template.usesFallback && !values.quiet) process.stderr.write(`(the model has no chat template: messages are written as "User: …" and "Assistant: …")\n`);
    const params = resolveSamplingParams({ ...sampling, maxTokens: maxReply });
    const exitCode = await converse(engine, template, new Conversation(values.system ?? null), context - maxReply, params);
    if (exitCode !== 0) process.exitCode = exitCode;
  } finally {
    engine.close();
  }
}

/** Reads messages until EOF, /exit or Ctrl-C at the prompt; returns the exit status. */
async function converse(engine: LLMEngine, template: ChatTemplate, conversation: Conversation, maxPromptTokens: number, params: SamplingParams): Promise<number> {
  const interactive = process.stdin.isTTY === true;
  const rl = readline.createInterface({ input: process.stdin, output: interactive ? process.stderr : undefined, terminal: interactive });
  let replying: SequenceHandle | null = null;
  let exitCode = 0;
  const interrupt = (): void => {
    if (replying !== null) return replying.abort();
    exitCode = INTERRUPTED_EXIT;
    if (interactive) process.stderr.write("\n"); // the shell's prompt on a line of its own
    rl.close();
  };
  // A terminal's Ctrl-C reaches readline as a key; a pipe's comes as the signal.
  rl.on("SIGINT", interrupt);
  process.on("SIGINT", interrupt);
  const build = (messages: readonly ChatMessage[]): ChatPrompt => chatPrompt(template, engine.tokenizer, messages);
  const note = (text: string): void => void process.stderr.write(`(${text})\n`);
  rl.setPrompt("> ");
  if (interactive) rl.prompt();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === "/exit") break;
      if (line === "/reset") {
        conversation.reset();
        note("conversation reset");
      } else if (line !== "") {
        let asked: { prompt: ChatPrompt; dropped: number };
        try {
          asked = conversation.ask(line, maxPromptTokens, build);
        } catch (e) {
          if (e instanceof ChatTemplateError || !(e instanceof UserError)) throw e;
          process.stderr.write(`nanogpt-infer: ${e.message}\n`);
          if (interactive) rl.prompt();
          continue;
        }
        if (asked.dropped > 0) note(`context full: dropped the oldest ${asked.dropped === 1 ? "exchange" : `${asked.dropped} exchanges`}`);
        const handle = engine.add({
          promptIds: asked.prompt.ids,
          params: { ...params, stop: asked.prompt.stop },
          onToken: (ev) => process.stdout.write(ev.piece),
        });
        replying = handle;
        const { text, stopped } = await finished(handle);
        replying = null;
        process.stdout.write("\n");
        if (stopped) note("reply stopped");
        conversation.reply(text);
      }
      if (interactive) rl.prompt();
    }
  } finally {
    process.off("SIGINT", interrupt);
    rl.close();
  }
  return exitCode;
}

/** A reply's text, also when Ctrl-C cut it short (what was shown is what the history keeps). */
async function finished(handle: SequenceHandle): Promise<{ text: string; stopped: boolean }> {
  try {
    return { text: (await handle.result).text, stopped: false };
  } catch (e) {
    if (!(e instanceof AbortedError)) throw e;
    return { text: handle.state.seq.text, stopped: true };
  }
}

export const command: Command = { run: chatCommand, help: chatHelp };
