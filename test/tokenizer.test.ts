import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { UserError } from "../src/errors.js";
import { BpeTokenizer, loadTokenizer, type Tokenizer } from "../src/tokenizer/index.js";
import { readTokenizerFolder } from "../src/tokenizer/load.js";
import { byteToChar } from "../src/tokenizer/bytes.js";
import { defaultModelDir, fixtureModel, fixtures } from "./paths.js";
import { mulberry32, userErrorMatching } from "./helpers.js";

const gpt2Dir = path.join(fixtures, "gpt2-tokenizer");

interface GoldenCase {
  text: string;
  ids: number[];
  decoded: string;
}
const golden: { cases: GoldenCase[] } = JSON.parse(await readFile(path.join(gpt2Dir, "golden.json"), "utf8"));

const gpt2 = await loadTokenizer(gpt2Dir);
const byteLevel = await loadTokenizer(defaultModelDir);

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "tokenizer-test-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A folder with only the legacy vocab.json + merges.txt (+ config) of `from`. */
async function withLegacyCopy(from: string, fn: (dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    for (const name of ["vocab.json", "merges.txt", "tokenizer_config.json"]) {
      await copyFile(path.join(from, name), path.join(dir, name));
    }
    await fn(dir);
  });
}

const PIECES = [
  "the", "The", "hello", "world", "don't", "I'm", "we'll", "'s", "'T", "42", "3.14", "1e-10", "x**2",
  "café", "naïve", "Zürich", "Ελληνικά", "Русский", "שָׁלוֹם", "مرحبا", "日本語", "中文", "한국어", "テキスト",
  "🤖", "🚀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "e\u0301", "n\u0303\u0323", "\u0300",
  " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u2009", "\u200b", "\u3000", "\ufeff",
  "<|endoftext|>", "<|endof", "|>", "!?", "...", "#", "@", "\\", "\u0085", "\u0000", "\u007f",
];

function randomString(next: () => number): string {
  const parts: string[] = [];
  const count = Math.floor(next() * 12);
  for (let i = 0; i < count; i++) {
    const r = next();
    if (r < 0.7) parts.push(PIECES[Math.floor(next() * PIECES.length)]);
    else if (r < 0.85) parts.push(String.fromCharCode(32 + Math.floor(next() * 95)));
    else parts.push(String.fromCodePoint(0xa0 + Math.floor(next() * 0x2f00)));
  }
  return parts.join("");
}

test("golden: GPT-2 encodes and decodes exactly as HF", () => {
  assert.equal(golden.cases.length, 18);
  for (const c of golden.cases) {
    assert.deepEqual(gpt2.encode(c.text), c.ids, `encode ${JSON.stringify(c.text)}`);
    assert.equal(gpt2.decode(c.ids), c.decoded, `decode ${JSON.stringify(c.text)}`);
  }
});

test("GPT-2 metadata from tokenizer.json and tokenizer_config.json", () => {
  assert.equal(gpt2.vocabSize, 50257);
  assert.equal(gpt2.eosTokenId, 50256);
  assert.equal(gpt2.bosTokenId, 50256);
  assert.equal(gpt2.eosToken, "<|endoftext|>");
  assert.equal(gpt2.bosToken, "<|endoftext|>");
  assert.equal(gpt2.chatTemplate, null);
  assert.deepEqual([...gpt2.tokenBytes(262)], [...Buffer.from(" the")]);
  assert.deepEqual([...gpt2.tokenBytes(50256)], [...Buffer.from("<|endoftext|>")]);
  assert.equal(gpt2.tokenBytes(99999).length, 0);
});

test("vocab.json + merges.txt load identically to tokenizer.json", async () => {
  await withLegacyCopy(gpt2Dir, async (dir) => {
    const legacy = await loadTokenizer(dir);
    for (const key of ["vocabSize", "bosTokenId", "eosTokenId", "bosToken", "eosToken", "chatTemplate"] as const) {
      assert.equal(legacy[key], gpt2[key], key);
    }
    const next = mulberry32(7);
    const texts = [...golden.cases.map((c) => c.text), ...Array.from({ length: 100 }, () => randomString(next))];
    for (const text of texts) assert.deepEqual(legacy.encode(text), gpt2.encode(text), JSON.stringify(text));
  });
});

test("the tiny GPT-2 fixtures get the shared GPT-2 tokenizer", async () => {
  const tiny = await loadTokenizer(fixtureModel("gpt2-tiny-random"));
  for (const c of golden.cases) assert.deepEqual(tiny.encode(c.text), c.ids);
});

test("shakespeare byte tokenizer: id = byte value, 256 = <|endoftext|>", async () => {
  assert.equal(byteLevel.vocabSize, 257);
  assert.equal(byteLevel.eosTokenId, 256);
  assert.deepEqual(byteLevel.encode("ROMEO:"), [82, 79, 77, 69, 79, 58]);
  assert.deepEqual(byteLevel.encode("<|endoftext|>"), [256]);
  assert.deepEqual(byteLevel.encode("a<|endoftext|>\né"), [97, 256, 10, 0xc3, 0xa9]);
  assert.equal(byteLevel.decode([72, 105, 256]), "Hi<|endoftext|>");
  await withLegacyCopy(defaultModelDir, async (dir) => {
    const legacy = await loadTokenizer(dir);
    assert.deepEqual(legacy.encode("ROMEO:<|endoftext|>"), [82, 79, 77, 69, 79, 58, 256]);
  });
});

test("invalid UTF-8 decodes to U+FFFD like HF", () => {
  assert.equal(byteLevel.decode([0xff]), "\ufffd");
  assert.equal(byteLevel.decode([104, 0xf0, 0x9f, 105]), "h\ufffdi"); // cut-off emoji: one U+FFFD
  assert.equal(byteLevel.decode([0xef, 0xbb, 0xbf, 104]), "\ufeffh"); // a BOM is text, not stripped
});

test("property: decode(encode(s)) === s for ~300 random strings", () => {
  const next = mulberry32(12345);
  for (let i = 0; i < 300; i++) {
    const s = randomString(next);
    for (const [name, tok] of [["gpt2", gpt2], ["byte", byteLevel]] as const) {
      assert.equal(tok.decode(tok.encode(s)), s, `${name} ${JSON.stringify(s)}`);
    }
  }
});

function streamPieces(tok: Tokenizer, ids: number[]): string[] {
  const stream = tok.createStreamDecoder();
  return [...ids.map((id) => stream.push(id)), stream.flush()];
}

test("stream decode emits only whole characters", () => {
  const text = "Robots 🤖 say 日本語のテキスト 👨‍👩‍👧‍👦 and 🇫🇷!";
  for (const tok of [gpt2, byteLevel]) {
    const pieces = streamPieces(tok, tok.encode(text));
    assert.equal(pieces.join(""), text);
    assert.ok(pieces.every((p) => !p.includes("\ufffd")), JSON.stringify(pieces));
    assert.ok(pieces.includes(""), "some token ends inside a character and must be held back");
  }
  // A character that never completes is reported at flush, as decode() would.
  assert.deepEqual(streamPieces(byteLevel, [104, 0xf0, 0x9f]), ["h", "", "", "\ufffd"]);
});

test("tokenizer from in-memory string tables (as used by the GGUF loader)", () => {
  const vocab = [...byteToChar, "ab", "abab", "Ġab"];
  const tok = BpeTokenizer.fromVocab({
    vocab,
    merges: [["a", "b"], ["ab", "ab"], ["Ġ", "ab"]],
    specialTokens: [{ id: 259, content: "<|eot|>" }],
    eosTokenId: 259,
    chatTemplate: "{{ messages }}",
  });
  assert.equal(tok.vocabSize, 260);
  assert.deepEqual(tok.encode("abab ab<|eot|>abx"), [257, 258, 259, 256, 120]);
  assert.equal(tok.decode([257, 258, 259]), "abab ab<|eot|>");
  assert.equal(tok.eosToken, "<|eot|>");
  assert.equal(tok.bosTokenId, null);
  assert.equal(tok.chatTemplate, "{{ messages }}");
  assert.throws(() => BpeTokenizer.fromVocab({ vocab, merges: [["x", "y"]] }), (e) => e instanceof UserError && /merge #0 "x y"/.test(e.message));
});

test("chat template from chat_template.jinja, else tokenizer_config.json (the .jinja file wins, as in transformers)", async () => {
  await withLegacyCopy(gpt2Dir, async (dir) => {
    await writeFile(path.join(dir, "chat_template.jinja"), "{% for m in messages %}{{ m.content }}{% endfor %}");
    assert.equal((await loadTokenizer(dir)).chatTemplate, "{% for m in messages %}{{ m.content }}{% endfor %}");
    const config = { eos_token: { content: "<|endoftext|>" }, bos_token: null, chat_template: "T" };
    await writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify(config));
    const tok = await loadTokenizer(dir);
    assert.equal(tok.chatTemplate, "{% for m in messages %}{{ m.content }}{% endfor %}");
    assert.equal(tok.bosTokenId, null);
    assert.equal(tok.eosTokenId, 50256);
    await rm(path.join(dir, "chat_template.jinja"));
    assert.equal((await loadTokenizer(dir)).chatTemplate, "T");
  });
});

test("bad model folders throw one-line UserErrors naming the problem", async () => {
  await assert.rejects(loadTokenizer(path.join(fixtures, "does-not-exist")), userErrorMatching(/model folder not found: .*does-not-exist/));
  await withTempDir(async (dir) => {
    await assert.rejects(loadTokenizer(dir), userErrorMatching(/no tokenizer in .*: expected tokenizer\.json, or vocab\.json and merges\.txt/));

    await writeFile(path.join(dir, "vocab.json"), "{}");
    await assert.rejects(loadTokenizer(dir), userErrorMatching(/cannot read .*merges\.txt: file not found/));

    await writeFile(path.join(dir, "tokenizer.json"), '{"model": {"type": "BPE", ');
    await assert.rejects(loadTokenizer(dir), userErrorMatching(/invalid JSON in .*tokenizer\.json/));

    await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify({ model: { type: "WordPiece", vocab: {} } }));
    await assert.rejects(loadTokenizer(dir), userErrorMatching(/tokenizer\.json: unsupported tokenizer model type "WordPiece"/));

    const bpe = { model: { type: "BPE", vocab: { a: 0 }, merges: [] }, decoder: { type: "ByteLevel" } };
    await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify({ ...bpe, pre_tokenizer: { type: "BertPreTokenizer" } }));
    await assert.rejects(loadTokenizer(dir), userErrorMatching(/tokenizer\.json: unsupported pre_tokenizer type "BertPreTokenizer"/));

    await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify({ ...bpe, pre_tokenizer: { type: "ByteLevel" } }));
    await writeFile(path.join(dir, "tokenizer_config.json"), "not json");
    await assert.rejects(loadTokenizer(dir), userErrorMatching(/invalid JSON in .*tokenizer_config\.json/));
  });
});

test("a 200 kB word without spaces round-trips (merges are n log n, not quadratic)", () => {
  const word = "ab".repeat(100_000); // one 200 kB pre-token
  assert.equal(gpt2.decode(gpt2.encode(word)), word);
});

test("loadTokenizer's worker thread gives the tables that reading on this thread gives", async () => {
  const inThread = new BpeTokenizer(await readTokenizerFolder(gpt2Dir));
  const viaWorker = await loadTokenizer(gpt2Dir);
  const text = "Hello world! <|endoftext|> naïve café 🤗 1234";
  assert.equal(viaWorker.vocabSize, inThread.vocabSize);
  assert.deepEqual(viaWorker.encode(text), inThread.encode(text));
  for (const id of [0, 262, 50256]) assert.deepEqual([...viaWorker.tokenBytes(id)], [...inThread.tokenBytes(id)]);
  assert.equal(viaWorker.tokenBytes(1.5).length, 0);
  assert.equal(viaWorker.tokenBytes(-1).length, 0);
});
