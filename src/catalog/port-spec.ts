/** "11211/udp", "6000-6063/tcp": how the catalog writes ports. Kept free of zod so lookups stay light. */
export const portSpecPattern = /^(\d{1,5})(?:-(\d{1,5}))?\/(tcp|udp)$/;
