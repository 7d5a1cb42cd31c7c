import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { convertCommand } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import { readGGUF } from "../src/io/gguf-read.js";
import { LLMEngine } from "../src/engine/llm-engine.js";
import { startServer } from "../src/server/server.js";
import { byteToChar } from "../src/tokenizer/bytes.js";
import { randomLlamaConfig, writeRandomLlamaFolder } from "../scripts/make-random-llama.js";
import { assertUserError, until } from "./helpers.js";
import { defaultModelDir, fixtureModel, repoRoot } from "./paths.js";

const main = path.join(repoRoot, "dist", "src", "cli", "main.js");
const LLAMA3_TEMPLATE = String(JSON.parse(fs.readFileSync(path.join(repoRoot, "node_modules", "@lenml", "tokenizer-llama3", "models", "tokenizer_config.json"), "utf8")).chat_template);
const SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>"];
const id = (token: string): number => 256 + SPECIALS.indexOf(token);

let work: string;
before(() => (work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-chat-cli-"))));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function chat(args: readonly string[], input: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [main, "chat", "--backend", "reference", ...args], { input, encoding: "utf8", timeout: 60000 });
}

/**
 * A random Llama 3 checkpoint that chats: a byte-level tokenizer (256 bytes and Llama 3's six
 * special tokens, no merges), Llama 3's chat template, and config.json's three end ids.
 */
function templatedLlama(name: string, template: string): string {
  const dir = path.join(work, name);
  const config = { ...randomLlamaConfig("llama3"), vocab_size: 256 + SPECIALS.length, bos_token_id: id("<|begin_of_text|>") };
  writeRandomLlamaFolder(dir, { ...config, eos_token_id: [id("<|end_of_text|>"), id("<|eom_id|>"), id("<|eot_id|>")] }, { seed: 3, std: 0.3 });
  const tokenizer = {
    version: "1.0",
    added_tokens: SPECIALS.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: Object.fromEntries(byteToChar.map((c, b) => [c, b])), merges: [] },
  };
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  const tokenizerConfig = { bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>", chat_template: template, tokenizer_class: "PreTrainedTokenizerFast" };
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
  return dir;
}

describe("nanogpt-infer chat, piped", () => {
  it("GPT-2 without a template: the plain User:/Assistant: format, history carried, one reply per line", async () => {
    const args = ["--temperature", "0", "--max-tokens", "30"];
    const r = chat(args, "Hello there\nHow are you?\n");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /no chat template/);
    // The same replies, from prompts written out by hand, with the library.
    const llm = await LLM.load(defaultModelDir, { backend: "reference" });
    try {
      const reply = (text: string): string => llm.generateBatch([text], { temperature: 0, maxTokens: 30, stop: ["\nUser:"] })[0].text;
      const first = reply("User: Hello there\n\nAssistant:");
      const second = reply(`User: Hello there\n\nAssistant: ${first}\n\nUser: How are you?\n\nAssistant:`);
      assert.equal(r.stdout, `${first}\n${second}\n`);
    } finally {
      llm.close();
    }
  });

  it("/reset forgets the conversation, /exit quits before later lines", () => {
    const r = chat(["--temperature", "0", "--max-tokens", "20", "--quiet"], "Hello\n\n/reset\nHello\n/exit\nnever answered\n");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "(conversation reset)\n");
    const lines = r.stdout.split("\n");
    assert.ok(r.stdout.length > 2);
    assert.equal(r.stdout.slice(0, r.stdout.length / 2), r.stdout.slice(r.stdout.length / 2), `the same reply twice: ${JSON.stringify(lines)}`);
  });

  it("a full context drops the oldest exchanges (said on stderr), and a message too long alone is refused", () => {
    // shakespeare-byte-gpt2 has 256 positions: 100 for the reply leaves 156 for the prompt, bytes.
    const line = "Speak of the king and of the queen, good sir.";
    const r = chat(["--temperature", "0", "--max-tokens", "100", "--system", "Be brief.", "--quiet"], `${line}\n${line}\n${"x".repeat(200)}\n${line}\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^\(context full: dropped the oldest (exchange|\d exchanges)\)$/m);
    assert.match(r.stderr, /^nanogpt-infer: the system message and the message take 2\d\d tokens, more than the 156 the context leaves for a prompt: not sent$/m);
    assert.equal(r.stdout.split("\n").length >= 4, true);
  });

  it("a random Llama 3 with a template: prompts as transformers.js renders and tokenizes them, replies end at <|eot_id|>", async () => {
    const dir = templatedLlama("llama3", LLAMA3_TEMPLATE);
    env.allowRemoteModels = false;
    env.localModelPath = work + path.sep;
    const reference = await AutoTokenizer.from_pretrained("llama3");
    const args = ["--temperature", "1", "--seed", "17", "--max-tokens", "40", "--system", "Be brief."];
    const r = chat(["--model", dir, ...args], "Hi\nAnd then?\n");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");

    const llm = await LLM.load(dir, { backend: "reference" });
    try {
      assert.deepEqual(llm.eosTokenIds, [id("<|end_of_text|>"), id("<|eom_id|>"), id("<|eot_id|>")]);
      const messages = [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
      ];
      const replies: string[] = [];
      const stoppedOn: number[] = [];
      for (const next of ["And then?", null]) {
        const text = reference.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
        const ids = reference.apply_chat_template(messages, { tokenize: true, add_generation_prompt: true, return_tensor: false, return_dict: false });
        assert.ok(typeof text === "string" && Array.isArray(ids));
        assert.deepEqual(llm.tokenize(text), ids, "ids as apply_chat_template(tokenize: true)");
        const [g] = llm.generateBatch([ids], { temperature: 1, seed: 17, maxTokens: 40 });
        const [unstopped] = llm.generateBatch([ids], { temperature: 1, seed: 17, maxTokens: 40, ignoreEos: true });
        replies.push(g.text);
        if (g.finishReason === "stop") stoppedOn.push(unstopped.tokens[g.tokens.length]);
        if (next === null) break;
        messages.push({ role: "assistant", content: g.text }, { role: "user", content: next });
      }
      assert.equal(r.stdout, `${replies[0]}\n${replies[1]}\n`);
      // With this seed the first reply ends at <|eot_id|>, which only config.json's list names.
      assert.deepEqual(stoppedOn, [id("<|eot_id|>")]);
    } finally {
      llm.close();
    }
  });

  it("a template that fails to render: the Jinja error in one line, exit 1 (CLI) and 400 (server)", async () => {
    const template = "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" + LLAMA3_TEMPLATE;
    const dir = templatedLlama("no-system", template);
    assertUserError(chat(["--model", dir, "--system", "Be brief."], "Hi\n"), /^nanogpt-infer: the chat template rejected the messages: System role not supported$/m);
    assert.equal(chat(["--model", dir, "--max-tokens", "3"], "Hi\n").status, 0);

    const engine = await LLMEngine.load(dir, { backend: "reference", maxBatch: 2 });
    const server = await startServer({ engine, port: 0 });
    try {
      const post = (messages: unknown): Promise<Response> =>
        fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages, max_tokens: 3 }) });
      const bad = await post([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]);
      assert.equal(bad.status, 400);
      const body = await bad.json();
      assert.equal(body.error.param, "messages");
      assert.equal(body.error.message, "the chat template rejected the messages: System role not supported");
      assert.equal((await post([{ role: "user", content: "Hi" }])).status, 200);
    } finally {
      await server.close();
      engine.close();
    }
  });

  it("GGUF: the template comes from tokenizer.chat_template, and chats as the folder it was converted from", async () => {
    const dir = path.join(work, "gpt2-templated");
    const src = fixtureModel("gpt2-tiny-random");
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(src)) if (f !== "tokenizer_config.json") fs.symlinkSync(path.join(src, f), path.join(dir, f));
    const template = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", chat_template: template }));
    const file = path.join(work, "gpt2-templated.gguf");
    await convertCommand({ model: dir, to: "gguf", dtype: "f32", out: file, quiet: true });
    assert.equal(readGGUF(file).metadata.get("tokenizer.chat_template"), template);
    const args = ["--temperature", "0", "--max-tokens", "8", "--system", "Be brief."];
    const fromFolder = chat(["--model", dir, ...args], "Hi\nAgain\n");
    const fromGGUF = chat(["--model", file, ...args], "Hi\nAgain\n");
    assert.equal(fromGGUF.status, 0, fromGGUF.stderr);
    assert.doesNotMatch(fromGGUF.stderr, /no chat template/);
    assert.equal(fromGGUF.stderr, fromFolder.stderr);
    assert.equal(fromGGUF.stdout, fromFolder.stdout);
    assert.ok(fromGGUF.stdout.length > 2);
  });

  it("refuses what cannot chat: a model without a tokenizer, --max-tokens as long as the context", () => {
    const idsOnly = path.join(work, "ids-only");
    writeRandomLlamaFolder(idsOnly, randomLlamaConfig("llama3"));
    assertUserError(chat(["--model", idsOnly], "Hi\n"), /chat needs a model with a tokenizer/);
    assertUserError(chat(["--max-tokens", "256"], "Hi\n"), /--max-tokens 256 leaves no room for a prompt in the context of 256 tokens/);
  });
});

describe("nanogpt-infer chat and SIGINT", () => {
  it("SIGINT during a reply stops the reply, not the program; at the prompt it exits (130)", async () => {
    const child = spawn(process.execPath, [main, "chat", "--backend", "reference", "--temperature", "0", "--max-tokens", "120", "--quiet"], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      child.stdin.write("Tell me a story\n");
      await until("the reply to start", () => stdout.length > 0, 30000);
      child.kill("SIGINT");
      // The reply's closing newline (stdout) and the note (stderr) come through separate pipes.
      await until("the reply to stop", () => stderr.includes("(reply stopped)") && stdout.endsWith("\n"), 10000);
      const stoppedAt = stdout.length;
      // A 120-token reply is far longer than what came before the signal.
      assert.ok(stoppedAt < 100, `stopped after ${stoppedAt} characters`);

      child.stdin.write("Tell me a story\n");
      await until("a second reply", () => stdout.length > stoppedAt, 30000);
      // The reply has ended once nothing more comes for a while: the program is at the prompt.
      for (let seen = -1, waited = 0; seen !== stdout.length || !stdout.endsWith("\n"); waited += 2500) {
        assert.ok(waited < 60000, "the second reply never ended");
        seen = stdout.length;
        await sleep(2500);
      }
      child.kill("SIGINT");
      assert.equal(await exited, 130);
      assert.equal(stderr.match(/\(reply stopped\)/g)?.length, 1, `the second reply ran to its end: ${stderr}`);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
