// SentencePiece-style GGUF vocabularies (tokenizer.ggml.model = "llama") run as llama.cpp's
// llm_tokenizer_spm: the algorithm's rules on small vocabularies, and the real Llama 2 vocabulary
// written as GGUF tables against its tokenizer.json pipeline (itself checked against
// transformers.js in tokenizer-hf.test.ts). llama.cpp itself is the reference of
// scripts/check-llama-cpp-tokenizers.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { UserError } from "../src/errors.js";
import { TokenType, type GGUFEntry } from "../src/io/gguf.js";
import { writeGGUF } from "../src/io/gguf-write.js";
import { tokenizerTablesFromFolder } from "../src/tokenizer/gguf-from-folder.js";
import { spmVocabulary, tokenizerMetadata, type TokenizerTables } from "../src/tokenizer/gguf.js";
import { loadGGUFTokenizer, loadTokenizer } from "../src/tokenizer/index.js";
import { SpmTokenizer } from "../src/tokenizer/spm.js";
import { repoRoot } from "./paths.js";
import { tokenizerCorpus } from "./tokenizer-corpus.js";

const llama2Dir = path.join(repoRoot, "node_modules", "@lenml", "tokenizer-llama2", "models");

/** A tiny "llama" vocabulary: [text, score, type] per id, ids 0-2 <unk>, <s>, </s>. */
function tiny(entries: readonly (readonly [string, number, number?])[], extra: Partial<TokenizerTables> = {}): SpmTokenizer {
  const all: (readonly [string, number, number?])[] = [["<unk>", 0, TokenType.UNKNOWN], ["<s>", 0, TokenType.CONTROL], ["</s>", 0, TokenType.CONTROL], ...entries];
  const tables: TokenizerTables = {
    model: "llama",
    tokens: all.map(([t]) => t),
    scores: all.map(([, s]) => s),
    tokenTypes: all.map(([, , type]) => type ?? TokenType.NORMAL),
    merges: [],
    bosTokenId: 1,
    eosTokenId: 2,
    unknownTokenId: 0,
    chatTemplate: null,
    ...extra,
  };
  return new SpmTokenizer(spmVocabulary(tables, "tiny.gguf"), "tiny.gguf");
}

const BYTES = Array.from({ length: 256 }, (_, b): [string, number, number] => [`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, 0, TokenType.BYTE]);
const ids = (t: SpmTokenizer, text: string) => t.encode(text, { addSpecialTokens: false });

test("merging: the pair making the highest-scoring token first, the leftmost among equal scores", () => {
  const letters: [string, number][] = [["▁", -10], ["a", -10], ["b", -10], ["c", -10]];
  const abFirst = tiny([...letters, ["ab", -1], ["bc", -2]], { addSpacePrefix: false });
  assert.deepEqual(ids(abFirst, "abc"), [7, 6]); // ab, c
  const bcFirst = tiny([...letters, ["ab", -2], ["bc", -1]], { addSpacePrefix: false });
  assert.deepEqual(ids(bcFirst, "abc"), [4, 8]); // a, bc
  const tie = tiny([...letters, ["ab", -1], ["bc", -1]], { addSpacePrefix: false });
  assert.deepEqual(ids(tie, "abc"), [7, 6]);
  // Merges chain: "abc" is only reachable through "ab" + "c" once "ab" exists.
  const chain = tiny([...letters, ["ab", -1], ["bc", -3], ["abc", -2]], { addSpacePrefix: false });
  assert.deepEqual(ids(chain, "abcabc"), [9, 9]);
});

test("the dummy prefix: a space before the text and after every special token, spaces spelled ▁", () => {
  const t = tiny([["▁", -5], ["a", -5], ["b", -5], ["▁a", -1], ["▁b", -1], ["▁▁", -2]]);
  assert.deepEqual(ids(t, "a b"), [6, 7]);
  assert.deepEqual(ids(t, "a<s>b"), [6, 1, 7]);
  assert.deepEqual(ids(t, "  a"), [8, 6]);
  assert.deepEqual(t.encode("a"), [1, 6], "BOS by default");
  assert.deepEqual(t.encode(""), [1]);
  const noPrefix = tiny([["▁", -5], ["a", -5], ["b", -5], ["▁a", -1], ["▁b", -1]], { addSpacePrefix: false, addBos: false, addEos: true });
  assert.deepEqual(noPrefix.encode("a b"), [4, 7, 2], "no prefix, no BOS, EOS as the file says");
});

test("special tokens: control, unknown and user-defined ones are cut out of text, the longest first", () => {
  const t = tiny([["▁", -5], ["x", -5], ["<a>", 0, TokenType.USER_DEFINED], ["<a><b>", 0, TokenType.CONTROL], ["<b>", 0, TokenType.NORMAL], ["<", -5], ["b", -5], [">", -5]], { addSpacePrefix: false });
  assert.deepEqual(ids(t, "<a><b><a>x"), [6, 5, 4]);
  assert.deepEqual(ids(t, "<unk></s>"), [0, 2]);
  // A normal token is never cut out: "<b>" is spelled from its characters, as no merge reaches it.
  assert.deepEqual(ids(t, "<b>"), [8, 9, 10]);
});

test("characters outside the vocabulary fall back to their UTF-8 bytes; without byte tokens that is an error", () => {
  const t = tiny([...BYTES, ["▁", -5], ["é", -5]], { addSpacePrefix: false });
  assert.deepEqual(ids(t, "é€"), [260, 3 + 0xe2, 3 + 0x82, 3 + 0xac]);
  assert.equal(t.decode(ids(t, "é€")), "é€");
  const none = tiny([["a", -1]], { addSpacePrefix: false });
  assert.throws(() => ids(none, "b"), (e: unknown) => e instanceof UserError && /no token for "b" and no byte token <0x62>/.test(e.message));
});

test("decode: ▁ becomes a space, byte tokens their bytes, the first token loses its leading space, control tokens only when shown", () => {
  const t = tiny([...BYTES, ["▁", -5], ["▁Hi", -1], ["!", -1], ["<x>", 0, TokenType.USER_DEFINED], ["[unused]", 0, TokenType.UNUSED]]);
  const hi = 260;
  assert.equal(t.decode([hi, 261]), "Hi!");
  assert.equal(t.decode([1, hi, 2]), "<s> Hi</s>", "after BOS the space stays, as llama_detokenize leaves it");
  assert.equal(t.decode([1, hi, 2], { skipSpecialTokens: true }), " Hi");
  assert.equal(t.decode([262, 263, hi], { skipSpecialTokens: true }), "<x> Hi", "user-defined tokens are text; unused ones nothing");
  assert.equal(t.decode([3 + 0xe2, 3 + 0x82, 3 + 0xac]), "€");
  assert.equal(t.decode([3 + 0xe2, 3 + 0x82]), "\ufffd");
  const stream = t.createStreamDecoder([1]);
  assert.equal([hi, 3 + 0xe2, 3 + 0x82, 3 + 0xac].map((id) => stream.push(id)).join("") + stream.flush(), " Hi€", "a continuation keeps its space; a character is never cut");
  const fresh = t.createStreamDecoder();
  assert.equal(fresh.push(hi) + fresh.flush(), "Hi");
  assert.equal(t.decode([99999, -1, hi]), "Hi", "ids outside the vocabulary are skipped");
});

test("a malformed vocabulary is a one-line UserError", () => {
  assert.throws(() => tiny([["<0xZZ>", 0, TokenType.BYTE]]), (e: unknown) => e instanceof UserError && /token 3 "<0xZZ>" has type BYTE but is not spelled <0xXX>/.test(e.message));
  assert.throws(() => tiny([["a", Number.NaN]]), (e: unknown) => e instanceof UserError && /token 3 has a NaN score/.test(e.message));
});

// The real Llama 2 vocabulary, written as convert does (scores from tokenizer.json's merge ranks).
const tables = tokenizerTablesFromFolder(llama2Dir, 32000);
const gguf = new SpmTokenizer(spmVocabulary(tables, "llama2.gguf"));
const folder = await loadTokenizer(llama2Dir);
const corpus = tokenizerCorpus();

test("Llama 2: the GGUF vocabulary gives the tokenizer.json pipeline's ids, with and without special tokens", () => {
  assert.equal(tables.model, "llama");
  assert.equal(tables.addBos, true);
  assert.deepEqual([tables.bosTokenId, tables.eosTokenId, tables.unknownTokenId], [1, 2, 0]);
  assert.deepEqual([3, 13, 258].map((id) => tables.tokenTypes[id]), [TokenType.BYTE, TokenType.BYTE, TokenType.BYTE]);
  for (const text of corpus) {
    assert.deepEqual(gguf.encode(text), folder.encode(text), `encode ${JSON.stringify(text)}`);
    assert.deepEqual(gguf.encode(text, { addSpecialTokens: false }), folder.encode(text, { addSpecialTokens: false }), `without specials ${JSON.stringify(text)}`);
  }
});

test("Llama 2: decode round-trips text as the folder does; it differs from HF only on a space after a leading special token", () => {
  let roundTrips = 0;
  for (const text of corpus) {
    const plain = folder.encode(text, { addSpecialTokens: false });
    if (plain.length > 0 && folder.decode(plain) === text) {
      assert.equal(gguf.decode(gguf.encode(text, { addSpecialTokens: false })), text, `round trip ${JSON.stringify(text)}`);
      roundTrips++;
    }
    const withBos = folder.encode(text);
    assert.equal(gguf.decode(withBos), folder.decode(withBos), `decode with specials ${JSON.stringify(text)}`);
  }
  assert.ok(roundTrips > corpus.length / 2, `only ${roundTrips} of ${corpus.length} texts round-trip`);
  // By design (llama.cpp's llama_detokenize): skipping BOS does not drop the space after it; HF's Strip decoder does.
  const hello = folder.encode("Hello");
  assert.equal(folder.decode(hello, { skipSpecialTokens: true }), "Hello");
  assert.equal(gguf.decode(hello, { skipSpecialTokens: true }), " Hello");
});

test("Llama 2: LlamaHfVocab's scores (-1000 for every token) merge leftmost-first, so they would not give these ids", () => {
  const flat = new SpmTokenizer(spmVocabulary({ ...tables, scores: tables.tokens.map(() => -1000) }, "flat.gguf"));
  const differ = corpus.filter((text) => JSON.stringify(flat.encode(text)) !== JSON.stringify(folder.encode(text)));
  assert.ok(differ.length > corpus.length / 10, `only ${differ.length} of ${corpus.length} differ`);
});

test("Llama 2: through a GGUF file and the loader's worker, the same ids", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-spm-"));
  try {
    const file = path.join(dir, "llama2-vocab.gguf");
    const metadata: [string, GGUFEntry][] = [["general.architecture", { type: "string", value: "llama" }], ...tokenizerMetadata(tables)];
    writeGGUF(file, metadata, []);
    const loaded = await loadGGUFTokenizer(file);
    assert.ok(loaded instanceof SpmTokenizer);
    for (const text of corpus) assert.deepEqual(loaded.encode(text), gguf.encode(text), `encode ${JSON.stringify(text)}`);
    assert.equal(loaded.bosToken, "<s>");
    assert.equal(loaded.eosToken, "</s>");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
