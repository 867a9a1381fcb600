/**
 * The schema of catalog/services.yaml. The catalog is data: adding a service is adding one entry.
 * Port specs are compact strings ("11211/udp", "6000-6063/tcp") so the YAML stays readable.
 */
import { z } from "zod";
import { portSpecPattern } from "./port-spec.js";

export { portSpecPattern };

export const PROTOCOLS = ["tcp", "udp"] as const;
export const SCOPES = ["public", "lan", "local"] as const;
export const RISK_KINDS = [
  "data-exposure",
  "reflection",
  "remote-admin",
  "cleartext-credentials",
  "remote-code-execution",
  "information-disclosure",
] as const;

const PortSpec = z
  .string()
  .regex(portSpecPattern, 'a port is written "PORT/tcp", "PORT/udp" or "START-END/PROTO"')
  .refine((spec) => {
    // zod 4 runs this check even when the regex above failed; that failure is already reported.
    const m = portSpecPattern.exec(spec);
    if (!m) return true;
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    return start >= 1 && end <= 65535 && start <= end;
  }, "ports go from 1 to 65535 and a range's start is not above its end");

export const RiskSchema = z.strictObject({
  kind: z.enum(RISK_KINDS),
  /** One sentence a newcomer understands. */
  summary: z.string().min(1),
  /** Only for this protocol (memcached's reflection is UDP only); absent = every protocol of the service. */
  protocol: z.enum(PROTOCOLS).optional(),
  /** Bandwidth amplification factor for reflection risks (reply bytes / request bytes). */
  amplification: z.number().positive().optional(),
});

export const ConfigChangeSchema = z.strictObject({
  /** Debian/Ubuntu path. */
  file: z.string().min(1),
  /** RHEL/CentOS/Fedora path, when it differs. */
  rhelFile: z.string().min(1).optional(),
  /** The setting's name as written in the file, e.g. "bind-address", "-l", "protected-mode". */
  key: z.string().min(1),
  /** The safe value, e.g. "127.0.0.1". */
  value: z.string(),
  /** Why, or what else to know. */
  note: z.string().optional(),
});

export const FixSchema = z.strictObject({
  /** What to do in one sentence. */
  summary: z.string().min(1),
  config: z.array(ConfigChangeSchema).default([]),
  /** systemd unit on Debian (e.g. "mariadb.service"). */
  unit: z.string().min(1).optional(),
  /** systemd unit on RHEL when it differs (e.g. "httpd.service" vs "apache2.service"). */
  rhelUnit: z.string().min(1).optional(),
});

export const ServiceSchema = z.strictObject({
  /** Stable slug, lower-case: "memcached", "redis", "ntp". */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "an id is lower-case letters, digits and dashes"),
  name: z.string().min(1),
  description: z.string().min(1),
  ports: z.array(PortSpec).min(1),
  /** Process names (comm, at most 15 characters as the kernel keeps them) that serve it. */
  processes: z.array(z.string().min(1)).default([]),
  /** Who should be able to reach it: the whole internet, a private network, or this host only. */
  scope: z.enum(SCOPES),
  risks: z.array(RiskSchema).default([]),
  fix: FixSchema,
  references: z.array(z.string().url()).default([]),
});

export const CatalogSchema = z.strictObject({
  version: z.literal(1),
  services: z.array(ServiceSchema).min(1),
});

export type Service = z.infer<typeof ServiceSchema>;
export type Risk = z.infer<typeof RiskSchema>;
export type RiskKind = (typeof RISK_KINDS)[number];
export type ServiceScope = (typeof SCOPES)[number];
export type ConfigChange = z.infer<typeof ConfigChangeSchema>;
