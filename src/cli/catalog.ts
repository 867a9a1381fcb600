/** `moat catalog [QUERY] [--json]`: what Moat knows about a port or a service. */
import type { Command } from "commander";
import { loadCatalog } from "../catalog/load.js";
import { lookup } from "../catalog/query.js";
import { renderCatalogDetails, renderCatalogJson, renderCatalogTable } from "../report/catalog.js";
import { wantColor } from "../report/style.js";

const EXAMPLES = `
Examples:
  $ moat catalog                 list every known service (id, ports, scope, risks)
  $ moat catalog 11211           what listens on 11211, TCP and UDP, and how to close it
  $ moat catalog 123/udp         only the UDP services on port 123
  $ moat catalog mysql           by id, name or process name (case-insensitive)
  $ moat catalog beam.smp        which services a process name can be
  $ moat catalog 8080 --json     the catalog entries as a JSON array

A QUERY is a port (1-65535), PORT/tcp or PORT/udp, or a name. A malformed query exits with code 2.`;

interface CatalogFlags {
  json?: boolean;
}

export function registerCatalog(program: Command): void {
  program
    .command("catalog")
    .description("what Moat knows about a port or service: owners, intended reach, risks and the fix")
    .argument("[query]", "a port, PORT/PROTOCOL, or a service id, name or process name")
    .option("--json", "print the matching catalog entries as a JSON array")
    .addHelpText("after", EXAMPLES)
    .action(async (query: string | undefined, flags: CatalogFlags) => {
      const catalog = await loadCatalog();
      const services = query === undefined ? catalog.services : lookup(catalog, query);
      const color = wantColor(process.stdout);
      if (flags.json) process.stdout.write(renderCatalogJson(services));
      else if (query === undefined) process.stdout.write(renderCatalogTable(services, { color }));
      else if (services.length === 0) process.stdout.write(`No service in the catalog matches "${query}".\n`);
      else process.stdout.write(renderCatalogDetails(services, { color }));
    });
}
