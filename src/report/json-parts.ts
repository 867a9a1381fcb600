/**
 * `JSON.stringify(value, null, 2) + "\n"` of a plain object with one long array under a top-level
 * key, in parts that joined give exactly that text. A 10,000-finding audit is 7 MB of JSON: as one
 * string it lands in the old generation (forcing a full GC there) and is then copied whole to be
 * written. In parts of a hundred-odd elements each piece dies young, and each is still stringified
 * natively.
 */

/** Stands in for the array's elements; JSON escapes NUL, so no real element prints the same. */
const MARK = "\u0000moat-json-parts\u0000";

/**
 * Elements per part: ~90 KB of text for findings, under V8's large-object size (128 KiB), so each
 * part is made and dropped in the young generation instead of taking fresh pages of its own.
 */
const PART = 128;

/** JSON.stringify({ a: [...] }, null, 2) of a non-empty array is these around its elements. */
const PART_OPEN = '{\n  "a": [\n';
const PART_CLOSE = "\n  ]\n}";

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
    // Under a top-level key, as in the frame, elements print at the same depth: "    {". The text
    // around them is fixed, so it is cut off by length: a search, or a "," appended, would each
    // copy the whole part once more (JSON.stringify returns it as a rope of pieces).
    const text = JSON.stringify({ a: list.slice(i, i + PART) }, null, 2);
    yield text.slice(PART_OPEN.length, -PART_CLOSE.length);
    if (i + PART < list.length) yield ",\n";
  }
  yield `${frame.slice(at + mark.length)}\n`;
}
