/** Where `ip netns add NAME` keeps its namespaces (a small module: the prefetch at start-up needs only this). */
export const NETNS_DIR = "/run/netns";

/** The file of the namespace called `name`; null for a name that could point outside `dir` ("", "a/b", "..", ".x"). */
export function namedNetnsPath(name: string, dir = NETNS_DIR): string | null {
  return name === "" || name.includes("/") || name.startsWith(".") ? null : `${dir}/${name}`;
}
