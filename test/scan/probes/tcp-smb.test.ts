import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpSmbProbe as probe } from "../../../src/scan/probes/tcp-smb.js";
import { checkTcpRobust, hex } from "./never-throws.js";

const ZERO = (n: number) => "00".repeat(n);

/** SMB2 header of a server response (MS-SMB2 2.2.1.2): flags SERVER_TO_REDIR, command NEGOTIATE. */
function responseHeader(status = "00000000"): string {
  return `fe534d42 4000 0000 ${status} 0000 0100 01000000 00000000 ${ZERO(8)} ${ZERO(4)} ${ZERO(4)} ${ZERO(8)} ${ZERO(16)}`;
}

/** NEGOTIATE response (MS-SMB2 2.2.4): SecurityMode, dialect, GUID, capabilities, times. */
function response(mode: string, dialect: string): Buffer {
  const systemTime = Buffer.alloc(8);
  systemTime.writeBigUInt64LE((BigInt(Date.UTC(2020, 0, 1)) + 11_644_473_600_000n) * 10_000n);
  const body = `4100 ${mode} ${dialect} 0000 78563412 3412 7856 9abc def012345678 2f000000
    00008000 00008000 00008000 ${systemTime.toString("hex")} ${ZERO(8)} 8000 0000 00000000`;
  const smb = hex(`${responseHeader()} ${body}`);
  const nb = Buffer.alloc(4);
  nb.writeUInt32BE(smb.length);
  return Buffer.concat([nb, smb]);
}
const WINDOWS = response("0300", "1103");
const SAMBA = response("0100", "1103");

describe("tcp-smb probe", () => {
  it("sends an SMB2 NEGOTIATE for 2.0.2-3.1.1 with a preauth integrity context", () => {
    const guid = Buffer.from("moat-scan-probe!").toString("hex");
    assert.deepEqual(
      probe.request,
      hex(`0000009e
        fe534d42 4000 0000 00000000 0000 0100 00000000 00000000 ${ZERO(8)} ${ZERO(4)} ${ZERO(4)} ${ZERO(8)} ${ZERO(16)}
        2400 0500 0100 0000 00000000 ${guid} 70000000 0100 0000
        0202 1002 0003 0203 1103 0000
        0100 2600 00000000 0100 2000 0100 ${ZERO(32)}`),
    );
  });

  it("parses dialect, signing and server details", () => {
    const r = probe.parse(WINDOWS);
    assert.ok(r);
    assert.equal(r.fields.dialect, "3.1.1");
    assert.equal(r.fields.signing_enabled, true);
    assert.equal(r.fields.signing_required, true);
    assert.deepEqual(r.fields.capabilities, [
      "DFS",
      "LEASING",
      "LARGE_MTU",
      "MULTI_CHANNEL",
      "DIRECTORY_LEASING",
    ]);
    assert.equal(r.fields.server_guid, "12345678-1234-5678-9abc-def012345678");
    assert.equal(r.fields.system_time, "2020-01-01T00:00:00.000Z");
    assert.equal(probe.parse(SAMBA)?.fields.signing_required, false);
  });

  it("reports a refused negotiate and SMB1", () => {
    const refused = hex(`00000048 ${responseHeader("bb0000c0")} 0900 0000 00000000 00`);
    assert.equal(probe.parse(refused)?.fields.status, "STATUS_NOT_SUPPORTED");
    const smb1 = hex(`00000023 ff534d42 72 020001c0 ${ZERO(26)}`);
    assert.equal(probe.parse(smb1)?.fields.dialect, "SMB1");
  });

  it("returns null for requests, truncations and other services", () => {
    assert.equal(
      probe.parse(probe.request ?? Buffer.alloc(0)),
      null,
      "our own request has no SERVER_TO_REDIR flag",
    );
    assert.equal(probe.parse(WINDOWS.subarray(0, 100)), null);
    assert.equal(probe.parse(Buffer.from("HTTP/1.1 400 Bad Request\r\n")), null);
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [WINDOWS, SAMBA]);
  });
});
