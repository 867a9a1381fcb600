/**
 * `nft -j list ruleset` -> Ruleset. The envelope (tables, chains, sets, rules) is validated with zod,
 * and a broken one is an InputError naming the JSON path (`nftables[12].rule.expr`); the expressions
 * inside rules are open-ended, so those go through nft-expr.ts, which turns shapes it does not know
 * into `unknown` with the rule's handle. Object kinds that do not filter (counters, quotas, flowtables,
 * ct helpers, a newer nft's additions) are skipped with a note.
 */
import { z } from "zod";
import { InputError } from "../../errors.js";
import type { BaseChain, Chain, Rule, Ruleset, Table, TableFamily } from "./model.js";
import { chainLabel } from "./model.js";
import { decodeRule, ExprError, type NamedSet } from "./nft-expr.js";
import { renderExprs } from "./nft-render.js";

const FAMILIES = ["ip", "ip6", "inet", "arp", "bridge", "netdev"] as const;

/** nft prints priorities as numbers; newer versions may print the standard names. */
const PRIORITY_NAMES: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
  out: 100,
};

const name = z.string().min(1);
const tableSchema = z.looseObject({ family: z.enum(FAMILIES), name });
const chainSchema = z.looseObject({
  family: z.enum(FAMILIES),
  table: name,
  name,
  type: z.string().optional(),
  hook: z.string().optional(),
  prio: z.union([z.number().int(), z.string()]).optional(),
  policy: z.enum(["accept", "drop"]).optional(),
  dev: z.union([z.string(), z.array(z.string())]).optional(),
});
const ruleSchema = z.looseObject({
  family: z.enum(FAMILIES),
  table: name,
  chain: name,
  handle: z.number().int().optional(),
  expr: z.array(z.unknown()),
  comment: z.string().optional(),
});
const setSchema = z.looseObject({
  family: z.enum(FAMILIES),
  table: name,
  name,
  type: z.unknown(),
  map: z.unknown().optional(),
  elem: z.array(z.unknown()).optional(),
});
const envelopeSchema = z.looseObject({ nftables: z.array(z.unknown()) });

type ChainJson = z.infer<typeof chainSchema>;

export const NFT_ORIGIN = "nft -j list ruleset";

export function parseNftJson(text: string, file = NFT_ORIGIN): Ruleset {
  const data = parseJson(text, file);
  const envelope = envelopeSchema.safeParse(data);
  if (!envelope.success)
    throw new InputError('expected {"nftables": [...]} from nft -j', { file, path: "nftables" });

  const tables = new Map<string, Table>();
  const sets = new Map<string, Map<string, NamedSet>>();
  const chains = new Map<string, Chain>();
  const notes: string[] = [];
  const items = envelope.data.nftables;
  const key = (family: string, table: string) => `${family} ${table}`;

  const tableFor = (family: TableFamily, tableName: string, path: string): Table => {
    const table = tables.get(key(family, tableName));
    if (table === undefined)
      throw new InputError(`names table ${family} ${tableName}, which is not listed`, { file, path });
    return table;
  };

  // Tables, sets and chains first: nft lists them before rules, but a hand-edited file need not.
  for (const [i, item] of items.entries()) {
    const path = `nftables[${i}]`;
    const [kind, body] = single(item, path, file);
    if (kind === "table") {
      const t = check(tableSchema, body, `${path}.table`, file);
      tables.set(key(t.family, t.name), { family: t.family, name: t.name, chains: [] });
      sets.set(key(t.family, t.name), new Map());
    } else if (kind === "set" || kind === "map") {
      const s = check(setSchema, body, `${path}.${kind}`, file);
      tableFor(s.family, s.table, `${path}.${kind}.table`);
      sets.get(key(s.family, s.table))!.set(s.name, { type: s.type, elements: s.elem ?? [], map: s.map });
    } else if (kind === "chain") {
      const c = check(chainSchema, body, `${path}.chain`, file);
      const table = tableFor(c.family, c.table, `${path}.chain.table`);
      const chain: Chain = { name: c.name, base: baseChain(c, `${path}.chain`, file), rules: [] };
      table.chains.push(chain);
      chains.set(`${key(c.family, c.table)} ${c.name}`, chain);
    } else if (kind !== "rule" && kind !== "metainfo" && kind !== "element") {
      notes.push(`${path}: skipped a "${kind}" object, which does not filter packets`);
    }
  }

  for (const [i, item] of items.entries()) {
    const path = `nftables[${i}]`;
    const [kind, body] = single(item, path, file);
    if (kind !== "rule") continue;
    const r = check(ruleSchema, body, `${path}.rule`, file);
    const table = tableFor(r.family, r.table, `${path}.rule.table`);
    const chain = chains.get(`${key(r.family, r.table)} ${r.chain}`);
    if (chain === undefined)
      throw new InputError(`rule for chain ${r.chain}, which table ${r.family} ${r.table} does not list`, {
        file,
        path: `${path}.rule.chain`,
      });
    let decoded: ReturnType<typeof decodeRule>;
    try {
      decoded = decodeRule(r.expr, { family: r.family, sets: sets.get(key(r.family, r.table))! });
    } catch (error) {
      if (error instanceof ExprError)
        throw new InputError(`rule handle ${r.handle ?? "?"}: ${error.message}`, {
          file,
          path: `${path}.rule.expr${error.path}`,
        });
      throw error;
    }
    const rule: Rule = {
      ref: {
        chain: chainLabel(table, chain),
        handle: r.handle ?? null,
        index: chain.rules.length + 1,
        line: null,
        text: renderExprs(r.expr),
        comment: r.comment ?? null,
      },
      ...decoded,
    };
    chain.rules.push(rule);
  }
  return { source: "nft", origin: file, tables: [...tables.values()], notes };
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message);
    const offset = position ? Number(position[1]) : undefined;
    // JSON.parse reports a cut-off text as an error at its very end
    const truncated =
      text.trim() === "" ||
      /end of (JSON )?input|Unterminated/i.test(message) ||
      (offset !== undefined && offset >= text.trimEnd().length);
    const what = truncated ? "the JSON ends early (truncated output?)" : "not valid JSON";
    throw new InputError(
      `${what}: ${message}`,
      offset === undefined ? { file } : { file, ...lineOf(text, offset) },
    );
  }
}

function lineOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/** Each item of the nftables array is an object with one key naming its kind. */
function single(item: unknown, path: string, file: string): [string, unknown] {
  if (typeof item !== "object" || item === null || Array.isArray(item))
    throw new InputError('expected an object such as {"rule": {...}}', { file, path });
  const keys = Object.keys(item);
  if (keys.length !== 1)
    throw new InputError(`expected one key naming the object, found ${keys.length}`, { file, path });
  return [keys[0]!, (item as Record<string, unknown>)[keys[0]!]];
}

function check<T>(schema: z.ZodType<T>, value: unknown, path: string, file: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("");
  throw new InputError(issue.message, { file, path: `${path}${where}` });
}

function baseChain(c: ChainJson, path: string, file: string): BaseChain | null {
  if (c.hook === undefined) return null;
  let priority = 0;
  if (typeof c.prio === "number") priority = c.prio;
  else if (typeof c.prio === "string") {
    // "filter + 10" as newer nft may print it
    const m = /^([a-z]+)\s*(?:([+-])\s*(\d+))?$/.exec(c.prio);
    const named = m ? PRIORITY_NAMES[m[1]!] : undefined;
    if (m === null || named === undefined)
      throw new InputError(`unknown chain priority "${c.prio}"`, { file, path: `${path}.prio` });
    priority = named + (m[2] === "-" ? -1 : 1) * Number(m[3] ?? 0);
  }
  return {
    type: c.type ?? "filter",
    hook: c.hook,
    priority,
    // nft's default policy for a base chain is accept
    policy: c.policy ?? "accept",
    devices: c.dev === undefined ? [] : typeof c.dev === "string" ? [c.dev] : c.dev,
  };
}
