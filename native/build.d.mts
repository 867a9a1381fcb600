export const SOURCE: string;
export const SOURCES: string[];
export const ADDON: string;
/** null on success, else why the addon could not be built. */
export function buildNative(out?: string): string | null;
