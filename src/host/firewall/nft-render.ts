/**
 * A short nft-like rendering of a rule's JSON expressions ("tcp dport { 80, 443 } accept"), for
 * messages and the `text` of a RuleRef. Anything unusual falls back to compact JSON: the text is for
 * people to recognise the rule, never parsed back.
 */

const MAX_TEXT = 240;

export function renderExprs(exprs: readonly unknown[]): string {
  const text = exprs.map(renderExpr).join(" ");
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 3)}...` : text;
}

export function renderExpr(expr: unknown): string {
  if (!isRecord(expr)) return json(expr);
  const keys = Object.keys(expr);
  if (keys.length !== 1) return json(expr);
  const key = keys[0]!;
  const body = expr[key];
  switch (key) {
    case "match": {
      if (!isRecord(body)) return json(expr);
      const op = body.op === "==" || body.op === "in" ? "" : `${String(body.op)} `;
      return `${renderValue(body.left)} ${op}${renderValue(body.right)}`;
    }
    case "accept":
    case "drop":
    case "return":
    case "continue":
    case "notrack":
      return key;
    case "counter":
      return "counter";
    case "log":
      return isRecord(body) && typeof body.prefix === "string"
        ? `log prefix ${JSON.stringify(body.prefix)}`
        : "log";
    case "jump":
    case "goto":
      return isRecord(body) ? `${key} ${String(body.target)}` : key;
    case "reject":
      return "reject";
    case "xt":
      return isRecord(body) ? `xt ${String(body.type)} ${String(body.name)}` : "xt";
    case "vmap":
      return isRecord(body) ? `${renderValue(body.key)} vmap ${renderValue(body.data)}` : json(expr);
    default:
      return json(expr);
  }
}

function renderValue(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return value;
  // a verdict map's [key, verdict] pair
  if (Array.isArray(value) && value.length === 2 && isRecord(value[1]))
    return `${renderValue(value[0])} : ${renderValue(value[1])}`;
  if (Array.isArray(value)) return value.map(renderValue).join(",");
  if (!isRecord(value)) return json(value);
  if (isRecord(value.meta)) return `meta ${String(value.meta.key)}`;
  if (isRecord(value.payload)) return `${String(value.payload.protocol)} ${String(value.payload.field)}`;
  if (isRecord(value.ct)) return `ct ${String(value.ct.key)}`;
  if (Array.isArray(value.set)) return `{ ${value.set.map(renderValue).join(", ")} }`;
  if (Array.isArray(value.range)) return value.range.map(renderValue).join("-");
  if (Array.isArray(value.concat)) return value.concat.map(renderValue).join(" . ");
  if (Array.isArray(value["&"])) return value["&"].map(renderValue).join(" & ");
  if (isRecord(value.fib) && Array.isArray(value.fib.flags))
    return `fib ${value.fib.flags.map(String).join(" . ")} ${String(value.fib.result)}`;
  if (isRecord(value.prefix)) return `${String(value.prefix.addr)}/${String(value.prefix.len)}`;
  if (isRecord(value.elem)) return renderValue(value.elem.val);
  if (Object.keys(value).length === 1) {
    const [k] = Object.keys(value);
    if (value[k!] === null) return k!;
  }
  return json(value);
}

function json(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
