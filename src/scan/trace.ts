/**
 * Where a scan's time goes, for benchmarking: with MOAT_SCAN_TRACE set, the engines note the wall
 * and CPU time of their milestones (ms since the process started, node's start-up included)
 * and write them to stderr at the end. Unset, `scanTrace` is null and every call site is one test.
 */
export class ScanTrace {
  /** Event -> [wall ms, CPU ms (user + system) of the process so far]. */
  private readonly marks = new Map<string, [number, number]>();
  /** Keeps the first time of `event`. */
  first(event: string): void {
    if (!this.marks.has(event)) this.marks.set(event, now());
  }
  /** Keeps the latest time of `event`. */
  last(event: string): void {
    this.marks.set(event, now());
  }
  write(label: string): void {
    const parts = [...this.marks]
      .sort((a, b) => a[1][0] - b[1][0])
      .map(([k, [wall, cpu]]) => `${k}=${wall.toFixed(0)}/${cpu.toFixed(0)}`);
    process.stderr.write(`moat: trace ${label}: ${parts.join(" ")}\n`);
  }
}

function now(): [number, number] {
  const { user, system } = process.cpuUsage();
  return [performance.now(), (user + system) / 1000];
}

export function scanTrace(): ScanTrace | null {
  return process.env.MOAT_SCAN_TRACE ? new ScanTrace() : null;
}
