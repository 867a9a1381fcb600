/**
 * `JSON.stringify(value, null, 2) + "\n"` of a plain object with one long array under a top-level
 * key, in parts that joined give exactly that text. A 10,000-finding audit is 7 MB of JSON: as one
 * string it lands in the old generation (forcing a full GC there) and is then copied whole to be
 * written. In parts of a few hundred elements each piece dies young, and each is still stringified
 * natively.
 */

/** Stands in for the array's elements; JSON escapes NUL, so no real element prints the same. */
const MARK = "\u0000moat-json-parts\u0000";

/** Elements per part: a few hundred KB of text each. */
const PART = 256;

export function* prettyJsonParts(value: object, arrayKey: string): Generator<string> {
  const list = (value as Record<string, unknown>)[arrayKey];
  if (!Array.isArray(list) || list.length === 0) {
    yield `${JSON.stringify(value, null, 2)}\n`;
    return;
  }
  // The text around the elements, printed with a marker in their place (the key keeps its position).
  const frame = JSON.stringify({ ...value, [arrayKey]: [MARK] }, null, 2);
  const mark = JSON.stringify(MARK);
  const at = frame.indexOf(mark);
  yield frame.slice(0, frame.lastIndexOf("\n", at) + 1);
  for (let i = 0; i < list.length; i += PART) {
    // Under a top-level key, as in the frame, elements print at the same depth: "    {".
    const text = JSON.stringify({ a: list.slice(i, i + PART) }, null, 2);
    const elements = text.slice(text.indexOf("[\n") + 2, text.lastIndexOf("\n  ]"));
    yield i + PART < list.length ? `${elements},\n` : elements;
  }
  yield `${frame.slice(at + mark.length)}\n`;
}
