import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeSeverity } from "../../src/audit/severity.js";
import type { Service } from "../../src/catalog/schema.js";

function service(scope: Service["scope"]): Service {
  return {
    id: "x",
    name: "X",
    description: "test service",
    ports: ["1/tcp"],
    processes: [],
    scope,
    risks: [],
    fix: { summary: "fix it", config: [] },
    references: [],
  };
}

describe("judgeSeverity", () => {
  it("an exposed reflector is critical", () => {
    assert.equal(
      judgeSeverity("exposed", "all", service("local"), [{ kind: "reflection", summary: "r" }]),
      "critical",
    );
  });
  it("an exposed data store is high", () => {
    assert.equal(
      judgeSeverity("exposed", "all", service("lan"), [{ kind: "data-exposure", summary: "d" }]),
      "high",
    );
  });
  it("an exposed LAN service with no listed risk is still medium", () => {
    assert.equal(judgeSeverity("exposed", "public", service("lan"), []), "medium");
  });
  it("an unknown service on all addresses is medium", () => {
    assert.equal(judgeSeverity("exposed", "all", undefined, []), "medium");
  });
  it("a public service is info, or low with a risk, or medium when it can reflect", () => {
    assert.equal(judgeSeverity("exposed", "all", service("public"), []), "info");
    assert.equal(
      judgeSeverity("exposed", "all", service("public"), [{ kind: "remote-admin", summary: "a" }]),
      "low",
    );
    assert.equal(
      judgeSeverity("exposed", "all", service("public"), [{ kind: "reflection", summary: "r" }]),
      "medium",
    );
  });
  it("loopback is info whatever the service risks", () => {
    assert.equal(
      judgeSeverity("local", "loopback", service("local"), [{ kind: "reflection", summary: "r" }]),
      "info",
    );
  });
  it("a local-only service on a private address is low", () => {
    assert.equal(judgeSeverity("local", "private", service("local"), []), "low");
    assert.equal(judgeSeverity("local", "private", service("lan"), []), "info");
  });
});
