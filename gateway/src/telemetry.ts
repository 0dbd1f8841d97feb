/**
 * Turns off `@apollo/gateway`'s usage telemetry, which otherwise exports metrics and probes cloud
 * metadata endpoints off the machine. Imported before the gateway package loads. An operator who
 * wants it sets APOLLO_TELEMETRY_DISABLED=false explicitly.
 */
if (process.env.APOLLO_TELEMETRY_DISABLED === undefined || process.env.APOLLO_TELEMETRY_DISABLED === '') {
  process.env.APOLLO_TELEMETRY_DISABLED = 'true';
}

export {};
