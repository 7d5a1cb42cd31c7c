import { UserError } from "../../errors.js";

/**
 * Translates the Oniguruma regexes of tokenizer.json (HF tokenizers compiles them with onig) to
 * JavaScript `u`-mode source that matches the same strings. The differences that matter:
 * Oniguruma's \s, \d and \w are Unicode-wide while JavaScript's are not (and JavaScript's \s
 * also matches U+FEFF); `.` excludes only "\n"; ^ and $ are line anchors; and `(?i:...)`, which
 * Node's RegExp lacks, folds case per letter, so `(?i:'s)` also matches "'S" and "'ſ".
 * Constructs with no JavaScript equivalent (possessive quantifiers, atomic groups, nested
 * classes) are refused rather than approximated.
 */

/** Oniguruma's Unicode \s: White_Space minus U+FEFF's absence, spelled out for use inside a class. */
export const ONIG_SPACE = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const ONIG_WORD = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";
const ONIG_DIGIT = "\\p{Nd}";

/** Escapes whose meaning is the same in both dialects. */
const PLAIN_ESCAPES = new Set(["t", "n", "r", "f", "v", "0", "b", "B"]);

export function translateRegex(source: string, where: string): string {
  return new Translator(source, where).run();
}

/** Escapes every regex metacharacter: a literal string as a pattern. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

class Translator {
  private i = 0;
  /** One entry per open group: whether case folding was on outside it. */
  private readonly groups: boolean[] = [];
  private fold = false;

  constructor(
    private readonly src: string,
    private readonly where: string,
  ) {}

  private fail(what: string): never {
    throw new UserError(`${this.where}: regex ${JSON.stringify(this.src)} uses ${what}, which is not supported`);
  }

  run(): string {
    let out = "";
    while (this.i < this.src.length) out += this.atom();
    if (this.groups.length > 0) this.fail("an unclosed group");
    const js = out;
    try {
      new RegExp(js, "u");
    } catch (e) {
      throw new UserError(`${this.where}: invalid regex ${JSON.stringify(this.src)}: ${(e as Error).message}`);
    }
    return js;
  }

  private atom(): string {
    const src = this.src;
    const c = String.fromCodePoint(src.codePointAt(this.i) ?? 0);
    switch (c) {
      case "\\":
        return this.escape(false);
      case "[":
        return this.charClass();
      case "|":
        this.i++;
        return "|";
      case ".":
        this.i++;
        return "[^\\n]";
      case "^":
        this.i++;
        return "(?:^|(?<=\\n))";
      case "$":
        this.i++;
        return "(?=\\n|$)";
      case "(":
        return this.openGroup();
      case ")":
        this.i++;
        if (this.groups.length === 0) this.fail("an unmatched )");
        this.fold = this.groups.pop() ?? false;
        return ")";
      case "+":
      case "*":
      case "?":
        this.i++;
        if (src[this.i] === "+") this.fail(`the possessive quantifier ${c}+`);
        return c;
      case "{": {
        const quantifier = /^\{\d+(?:,\d*)?\}/.exec(src.slice(this.i))?.[0];
        if (quantifier === undefined) {
          this.i++;
          return "\\{";
        }
        this.i += quantifier.length;
        if (src[this.i] === "+") this.fail(`the possessive quantifier ${quantifier}+`);
        return quantifier;
      }
      default:
        this.i += c.length;
        return this.fold ? this.caseClass(c, true) : escapeLiteral(c);
    }
  }

  private openGroup(): string {
    const rest = this.src.slice(this.i);
    const prefix = /^\(\?(?:i:|:|=|!|<=|<!|<[A-Za-z_][A-Za-z0-9_]*>)/.exec(rest)?.[0] ?? (rest.startsWith("(?") ? null : "(");
    if (prefix === null) this.fail(`the group syntax ${JSON.stringify(rest.slice(0, 4))}`);
    this.i += prefix.length;
    this.groups.push(this.fold);
    if (prefix === "(?i:") {
      this.fold = true;
      return "(?:";
    }
    return prefix;
  }

  /** An escape outside (inClass false) or inside a character class. */
  private escape(inClass: boolean): string {
    const src = this.src;
    const e = src[this.i + 1];
    if (e === undefined) this.fail("a trailing backslash");
    this.i += 2;
    switch (e) {
      case "s":
        return inClass ? ONIG_SPACE : `[${ONIG_SPACE}]`;
      case "S":
        if (inClass) this.fail("\\S inside a character class");
        return `[^${ONIG_SPACE}]`;
      case "d":
        return inClass ? ONIG_DIGIT : `[${ONIG_DIGIT}]`;
      case "D":
        if (inClass) this.fail("\\D inside a character class");
        return `[^${ONIG_DIGIT}]`;
      case "w":
        return inClass ? ONIG_WORD : `[${ONIG_WORD}]`;
      case "W":
        if (inClass) this.fail("\\W inside a character class");
        return `[^${ONIG_WORD}]`;
      case "p":
      case "P":
        return this.property(e);
      case "x":
        return this.hexEscape();
      case "u": {
        const hex = /^[0-9A-Fa-f]{4}/.exec(src.slice(this.i))?.[0];
        if (hex === undefined) this.fail("a malformed \\u escape");
        this.i += 4;
        return `\\u${hex}`;
      }
      case "A":
        return "^";
      case "z":
        return "$";
      case "Z":
        return "(?=\\n?$)";
      default:
        if (PLAIN_ESCAPES.has(e)) {
          if (inClass && (e === "b" || e === "B")) this.fail(`\\${e} inside a character class`);
          return `\\${e}`;
        }
        if (/[A-Za-z0-9]/.test(e)) this.fail(`the escape \\${e}`);
        return inClass ? escapeInClass(e) : escapeLiteral(e);
    }
  }

  /** \p{L}, \p{^L}, \P{Han}: general categories pass through; a bare script name gets Script=. */
  private property(kind: "p" | "P"): string {
    const m = /^\{(\^?)([A-Za-z_ =]+)\}/.exec(this.src.slice(this.i));
    if (m === null) this.fail(`a malformed \\${kind} escape`);
    this.i += m[0].length;
    const negated = (kind === "P") !== (m[1] === "^");
    const name = m[2].replace(/ /g, "_");
    const letter = negated ? "P" : "p";
    for (const candidate of [name, `Script=${name}`]) {
      const js = `\\${letter}{${candidate}}`;
      try {
        new RegExp(js, "u");
        return js;
      } catch {
        // not this spelling
      }
    }
    return this.fail(`the unknown property \\${kind}{${m[2]}}`);
  }

  /** \xHH or \x{H...}. */
  private hexEscape(): string {
    const m = /^(?:\{([0-9A-Fa-f]{1,6})\}|([0-9A-Fa-f]{2}))/.exec(this.src.slice(this.i));
    if (m === null) this.fail("a malformed \\x escape");
    this.i += m[0].length;
    return `\\u{${m[1] ?? m[2]}}`;
  }

  private charClass(): string {
    const src = this.src;
    this.i++; // [
    let out = "[";
    if (src[this.i] === "^") {
      out += "^";
      this.i++;
    }
    // A "]" right after "[" or "[^" is a literal in Oniguruma.
    if (src[this.i] === "]") {
      out += "\\]";
      this.i++;
    }
    let previous: string | null = null; // the last single character, for ranges under case folding
    while (this.i < src.length && src[this.i] !== "]") {
      const c = String.fromCodePoint(src.codePointAt(this.i) ?? 0);
      if (c === "[") this.fail("a nested character class");
      if (c === "&" && src[this.i + 1] === "&") this.fail("class intersection (&&)");
      if (c === "\\") {
        out += this.escape(true);
        previous = null;
        continue;
      }
      this.i += c.length;
      if (c === "-" && previous !== null && src[this.i] !== "]" && this.fold && /\p{L}/u.test(previous)) {
        this.fail("a letter range inside (?i:...)");
      }
      out += this.fold ? this.caseClass(c, false) : c === "-" || c === "/" ? `\\${c}` : escapeInClass(c);
      previous = c === "-" ? null : c;
    }
    if (this.i >= src.length) this.fail("an unclosed character class");
    this.i++; // ]
    return out + "]";
  }

  /** Every character that matches `c` case-insensitively, as a class (or its members inside one). */
  private caseClass(c: string, standalone: boolean): string {
    const variants = caseVariants(c);
    if (variants.length === 1) return standalone ? escapeLiteral(c) : escapeInClass(c);
    const members = variants.map(escapeInClass).join("");
    return standalone ? `[${members}]` : members;
  }
}

function escapeLiteral(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function escapeInClass(c: string): string {
  return /[\]\\^-]/.test(c) ? `\\${c}` : c;
}

/** The blocks holding every character with a case mapping (Latin through Adlam). */
const CASED_RANGES: readonly (readonly [number, number])[] = [
  [0x41, 0x58f], [0x10a0, 0x10ff], [0x13a0, 0x13ff], [0x1c80, 0x1cbf], [0x1d00, 0x1fff], [0x2100, 0x218f], [0x24b6, 0x24e9],
  [0x2c00, 0x2d2f], [0xa640, 0xa7ff], [0xab70, 0xabbf], [0xfb00, 0xfb17], [0xff21, 0xff5a], [0x10400, 0x104ff], [0x10570, 0x105bf],
  [0x10c80, 0x10cff], [0x118a0, 0x118df], [0x16e40, 0x16e9f], [0x1e900, 0x1e95f],
];

/** Characters by their lower case and by their upper case, built on first use. */
let caseIndex: { lower: Map<string, string[]>; upper: Map<string, string[]> } | null = null;

function buildCaseIndex(): { lower: Map<string, string[]>; upper: Map<string, string[]> } {
  const lower = new Map<string, string[]>();
  const upper = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, x: string) => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [x]);
    else list.push(x);
  };
  for (const [from, to] of CASED_RANGES) {
    for (let cp = from; cp <= to; cp++) {
      const x = String.fromCodePoint(cp);
      const l = x.toLowerCase();
      const u = x.toUpperCase();
      if (l === u) continue;
      add(lower, l, x);
      add(upper, u, x);
    }
  }
  return { lower, upper };
}

/**
 * The characters equal to `c` under Unicode simple case folding, as Oniguruma's (?i) and
 * JavaScript's `iu` flags both define it: "s" gives s, S and ſ (U+017F); "k" gives k, K and the
 * Kelvin sign. The candidates share c's lower or upper case; an `iu` RegExp has the last word.
 */
function caseVariants(c: string): string[] {
  const lower = c.toLowerCase();
  const upper = c.toUpperCase();
  if (lower === upper) return [c];
  caseIndex ??= buildCaseIndex();
  const test = new RegExp(`^${escapeLiteral(c)}$`, "iu");
  const candidates = [c, ...(caseIndex.lower.get(lower) ?? []), ...(caseIndex.upper.get(upper) ?? [])];
  return [...new Set(candidates.filter((x) => x === c || test.test(x)))];
}
