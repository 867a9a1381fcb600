/**
 * Drives agent.py: one long-lived process that sends crafted frames from the peer and reads the
 * server's nft counters, one JSON line per request and per answer.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ProofLab } from "./proof-lab.js";

export type ProbeProtocol = "tcp" | "udp" | "icmp" | "icmpv6" | "other";
export type FragmentKind = "none" | "first" | "later";

/** One frame as the agent builds it. */
export interface Probe {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: ProbeProtocol;
  sport: number;
  dport: number;
  frag: FragmentKind;
  /** Unique per probe: IP id / fragment id / ICMP id / TCP sequence, so no two probes look alike. */
  ident: number;
  icmpType: number;
}

interface Reply {
  ok: boolean;
  error?: string;
  output?: string;
}

const SCRIPT = fileURLToPath(new URL("./agent.py", import.meta.url));
const PYTHON = "/usr/bin/python3";

export class ProofAgent {
  private buffered = "";
  private readonly waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  private stderr = "";
  private exited = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => this.onData(chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    child.on("exit", () => {
      this.exited = true;
      for (const w of this.waiting.splice(0)) w.reject(new Error(`agent exited: ${this.stderr.trim()}`));
    });
  }

  static async start(lab: ProofLab): Promise<ProofAgent> {
    const child = spawn("ip", [
      "netns",
      "exec",
      lab.peer,
      PYTHON,
      SCRIPT,
      lab.peerDev,
      lab.peerMac,
      lab.serverMac,
      lab.server,
    ]);
    const agent = new ProofAgent(child);
    const ready = await agent.next();
    if (!ready.ok) throw new Error(`agent failed to start: ${ready.error ?? ""}`);
    return agent;
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    for (let nl = this.buffered.indexOf("\n"); nl >= 0; nl = this.buffered.indexOf("\n")) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const waiter = this.waiting.shift();
      if (waiter === undefined) continue;
      try {
        waiter.resolve(JSON.parse(line) as Reply);
      } catch {
        waiter.reject(new Error(`agent said: ${line}`));
      }
    }
  }

  private next(): Promise<Reply> {
    if (this.exited) return Promise.reject(new Error(`agent exited: ${this.stderr.trim()}`));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private async request(body: Record<string, unknown>): Promise<Reply> {
    const reply = this.next();
    this.child.stdin.write(`${JSON.stringify(body)}\n`);
    const answer = await reply;
    if (!answer.ok) throw new Error(`agent: ${answer.error ?? "failed"}`);
    return answer;
  }

  async send(probe: Probe): Promise<void> {
    await this.request({ op: "send", ...probe });
  }

  /** Runs an nft command in the server namespace; JSON output. */
  async nft(command: string): Promise<string> {
    return (await this.request({ op: "nft", command })).output ?? "";
  }

  /** Runs a program in the server namespace (the agent's after it joined); its stdout. */
  async run(argv: string[]): Promise<string> {
    return (await this.request({ op: "run", argv })).output ?? "";
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exit = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
    await exit;
    clearTimeout(timer);
  }
}
