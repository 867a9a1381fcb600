/**
 * The `moat catalog QUERY` lookup: a port ("11211"), a port and protocol ("11211/udp"), or a name
 * matched against service ids, names and process names ("memcached", "MySQL", "beam.smp").
 */
import { InputError } from "../errors.js";
import type { Protocol } from "../host/types.js";
import type { Service } from "./schema.js";
import type { Catalog } from "./types.js";

export type CatalogQuery =
  | { kind: "port"; port: number; protocols: readonly Protocol[] }
  | { kind: "name"; text: string };

const PORT_QUERY = /^(\d+)(?:\/([a-z]+))?$/i;
const LOOKS_LIKE_PORT = /^[-+]?\d|^\/|\/(tcp|udp)?$/i;
const PROTOCOLS: readonly Protocol[] = ["tcp", "udp"];

function queryError(text: string, why: string): InputError {
  return new InputError(
    `"${text}" is not a catalog query: ${why}. Give a port (11211), a port and protocol (11211/udp), or a name (memcached).`,
  );
}

function parsePort(text: string, digits: string): number {
  const port = Number(digits);
  if (port < 1 || port > 65535) throw queryError(text, "ports go from 1 to 65535");
  return port;
}

function parseProtocol(text: string, name: string | undefined): readonly Protocol[] {
  if (name === undefined) return PROTOCOLS;
  const protocol = PROTOCOLS.find((p) => p === name.toLowerCase());
  if (!protocol) throw queryError(text, `the protocol is tcp or udp, not "${name}"`);
  return [protocol];
}

export function parseQuery(input: string): CatalogQuery {
  const text = input.trim();
  if (text === "") throw queryError(input, "it is empty");
  const m = PORT_QUERY.exec(text);
  if (m) return { kind: "port", port: parsePort(text, m[1]!), protocols: parseProtocol(text, m[2]) };
  // Meant as a port, so say what is wrong with it. A slash inside is fine: "MySQL / MariaDB" is a name.
  if (LOOKS_LIKE_PORT.test(text)) throw queryError(text, "write a port as PORT or PORT/PROTOCOL");
  return { kind: "name", text };
}

function byPort(catalog: Catalog, port: number, protocols: readonly Protocol[]): Service[] {
  const found = new Set<Service>();
  for (const protocol of protocols) for (const service of catalog.byPort(port, protocol)) found.add(service);
  // Catalog order, whatever the protocol order: the first entry is the likeliest.
  return catalog.services.filter((service) => found.has(service));
}

function byName(catalog: Catalog, text: string): Service[] {
  const wanted = text.toLowerCase();
  const exact = catalog.services.filter(
    (s) =>
      s.id === wanted ||
      s.name.toLowerCase() === wanted ||
      s.processes.some((p) => p.toLowerCase() === wanted),
  );
  if (exact.length > 0) return exact;
  // "maria" or "node_exp": a part of an id or name still finds the entry.
  return catalog.services.filter((s) => s.id.includes(wanted) || s.name.toLowerCase().includes(wanted));
}

/** The services a query names, in catalog order; empty when none does. */
export function findServices(catalog: Catalog, query: CatalogQuery): Service[] {
  return query.kind === "port" ? byPort(catalog, query.port, query.protocols) : byName(catalog, query.text);
}

/** Parse then find: the one call the CLI makes. Throws InputError on a malformed query. */
export function lookup(catalog: Catalog, input: string): Service[] {
  return findServices(catalog, parseQuery(input));
}
