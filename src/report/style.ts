/** Colour for human output: on only for a terminal, off when NO_COLOR is set (https://no-color.org). */
import pc from "picocolors";
import type { Severity } from "../audit/types.js";

export type Colors = ReturnType<typeof pc.createColors>;

export function wantColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true;
}

export function colors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

export function paintSeverity(c: Colors, severity: Severity, text: string): string {
  switch (severity) {
    case "critical":
      return c.bold(c.red(text));
    case "high":
      return c.red(text);
    case "medium":
      return c.yellow(text);
    case "low":
      return c.cyan(text);
    case "info":
      return c.dim(text);
  }
}

/** Pads every cell but the last of each row to its column's width, so colour can be added afterwards. */
export function padColumns(rows: string[][], gap = 2): string[][] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + gap))),
  );
}
