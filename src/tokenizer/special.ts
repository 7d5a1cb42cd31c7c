/**
 * Special tokens such as "<|endoftext|>" are cut out of the text before pre-tokenization, as HF
 * does by default: otherwise they would be spelled out as ordinary text ("<", "|", "endoftext"...)
 * and the model would never see the single id it was trained on.
 */

export type Segment = { text: string } | { id: number };

export class SpecialSplitter {
  private readonly pattern: RegExp | null;
  private readonly ids: Map<string, number>;

  constructor(tokens: readonly { id: number; content: string }[]) {
    this.ids = new Map(tokens.filter((t) => t.content !== "").map((t) => [t.content, t.id]));
    // Longest first so that, at a given position, "<|im_start|>" beats a hypothetical "<|im".
    const contents = [...this.ids.keys()].sort((a, b) => b.length - a.length);
    const escaped = contents.map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    this.pattern = escaped.length > 0 ? new RegExp(`(${escaped.join("|")})`) : null;
  }

  /** Alternating plain-text and special-token segments, in order; empty texts are dropped. */
  split(text: string): Segment[] {
    if (this.pattern === null) return text === "" ? [] : [{ text }];
    const segments: Segment[] = [];
    // With a capture group, split() puts the matched special tokens at the odd indices.
    text.split(this.pattern).forEach((part, i) => {
      const id = i % 2 === 1 ? this.ids.get(part) : undefined;
      if (id !== undefined) segments.push({ id });
      else if (part !== "") segments.push({ text: part });
    });
    return segments;
  }
}
