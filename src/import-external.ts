/**
 * import() of a package the build leaves out of the bundle (scripts/build.mjs: DuckDB and resvg are
 * native addons, vega is large). Built, the program runs as a vm.Script for its code cache
 * (src/cli/load-program.ts), where import() has no module loader; the entry point, an ES module,
 * lends its own as __moatImport. Under tsx the plain import() serves.
 */
declare const __moatImport: ((specifier: string) => Promise<unknown>) | undefined;

export function importExternal<T>(specifier: string): Promise<T> {
  return (typeof __moatImport === "function" ? __moatImport(specifier) : import(specifier)) as Promise<T>;
}
