/**
 * How many terminal columns text takes, as terminals draw it (wcwidth's rules): East Asian wide
 * and fullwidth characters and emoji take 2, combining marks, format characters (zero-width
 * joiner, variation selectors) and controls 0, everything else 1. Measured per grapheme cluster
 * (a user-perceived character: `e` + combining acute, a flag, a family emoji joined by ZWJ), so a
 * cluster is never split when text is wrapped. Pure; the tables of `output.ts` align by it.
 */

/** East Asian Wide (W) and Fullwidth (F) ranges outside the emoji (Unicode 15, EastAsianWidth.txt). */
const WIDE: [number, number][] = [
  [0x1100, 0x115f], // Hangul Jamo leading consonants
  [0x2329, 0x232a],
  [0x2e80, 0x303e], // CJK radicals … CJK symbols and punctuation
  [0x3041, 0x33ff], // Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo, CJK compatibility
  [0x3400, 0x4dbf], // CJK extension A
  [0x4e00, 0x9fff], // CJK unified ideographs
  [0xa000, 0xa4cf], // Yi
  [0xa960, 0xa97f], // Hangul Jamo extended A
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe10, 0xfe19], // vertical forms
  [0xfe30, 0xfe6f], // CJK compatibility forms, small form variants
  [0xff00, 0xff60], // fullwidth forms
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff], // Tangut
  [0x1b000, 0x1b2ff], // Kana supplement, Nushu
  [0x1f200, 0x1f2ff], // enclosed ideographic supplement
  [0x20000, 0x2fffd], // CJK extensions B…F
  [0x30000, 0x3fffd], // CJK extension G…
];

const ZERO = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}]$/u;
const EMOJI = /^\p{Emoji_Presentation}$/u;
const VARIATION_SELECTOR_EMOJI = 0xfe0f;

function isWide(code: number): boolean {
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, last] = WIDE[mid];
    if (code < first) hi = mid - 1;
    else if (code > last) lo = mid + 1;
    else return true;
  }
  return false;
}

/** The width of one code point: 0, 1 or 2. */
export function codePointWidth(char: string): number {
  const code = char.codePointAt(0) ?? 0;
  if (code < 0x7f) return code < 0x20 ? 0 : 1;
  if (ZERO.test(char)) return 0;
  if (code >= 0x1160 && code <= 0x11ff) return 0; // Hangul Jamo vowels and finals join the leading one
  if (EMOJI.test(char) || isWide(code)) return 2;
  return 1;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The grapheme clusters of `text`, in order. */
export function graphemes(text: string): string[] {
  // ASCII has one cluster per character but for CR LF, which tables never hold.
  if (/^[\x20-\x7e]*$/.test(text)) return [...text];
  return [...segmenter.segment(text)].map((s) => s.segment);
}

/** The width of one grapheme cluster: that of its widest code point; 2 with an emoji selector. */
export function clusterWidth(cluster: string): number {
  let width = 0;
  for (const char of cluster) {
    if (char.codePointAt(0) === VARIATION_SELECTOR_EMOJI) return 2;
    width = Math.max(width, codePointWidth(char));
  }
  return width;
}

/** How many terminal columns `text` (one line) takes. */
export function displayWidth(text: string): number {
  if (/^[\x20-\x7e]*$/.test(text)) return text.length;
  let width = 0;
  for (const cluster of graphemes(text)) width += clusterWidth(cluster);
  return width;
}

/** `text` padded with spaces to `width` columns. */
export function padEnd(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}
