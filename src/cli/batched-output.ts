/**
 * Text to a stream in batches: one write per turn of the event loop instead of one per line. A scan
 * of a few thousand ports writes a few thousand short lines, and each write is a system call (a
 * profile of `moat scan --json` put ~5% of its CPU there). On a terminal, or with `batch` false,
 * every write goes out at once (lines and a progress line on stderr keep their order).
 */
export class BatchedOutput {
  private parts: string[] = [];
  private size = 0;
  private scheduled: NodeJS.Immediate | null = null;
  private blocked: Promise<void> | null = null;
  private readonly limit: number;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stdout,
    batch = true,
  ) {
    this.limit = batch && stream.isTTY !== true ? 64 * 1024 : 0;
  }

  /** Queues `text`; a promise when the stream asked the writer to wait (back-pressure). */
  write(text: string): Promise<void> | null {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= this.limit) this.flush();
    else
      this.scheduled ??= setImmediate(() => {
        this.scheduled = null;
        this.flush();
      });
    return this.blocked;
  }

  flush(): void {
    if (this.scheduled !== null) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    if (this.parts.length === 0) return;
    const text = this.parts.length === 1 ? this.parts[0]! : this.parts.join("");
    this.parts = [];
    this.size = 0;
    if (!this.stream.write(text) && this.blocked === null)
      this.blocked = new Promise((resolve) =>
        this.stream.once("drain", () => {
          this.blocked = null;
          resolve();
        }),
      );
  }

  /** Writes what is queued and waits until the stream took it. */
  async end(): Promise<void> {
    this.flush();
    if (this.blocked !== null) await this.blocked;
  }
}
