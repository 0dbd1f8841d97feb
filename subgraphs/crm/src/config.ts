import { type ConfigOf, type ConfigSource, loadConfig } from '../../../kit/config';
import { subgraphSettings } from '../../kit/subgraphSettings';

/** Every setting of the CRM subgraph. */
export const crmSettings = {
  ...subgraphSettings(4001),
};

export type CrmConfig = ConfigOf<typeof crmSettings>;

/** Reads and validates the CRM subgraph's configuration; throws a `ConfigError` naming every bad setting. */
export const loadCrmConfig = (source: ConfigSource): CrmConfig => loadConfig(crmSettings, source);
