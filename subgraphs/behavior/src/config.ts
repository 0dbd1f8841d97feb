import { type ConfigOf, type ConfigSource, loadConfig, settingTypes } from '../../../kit/config';
import { subgraphSettings } from '../../kit/subgraphSettings';

/** Every setting of the behavior subgraph. */
export const behaviorSettings = {
  ...subgraphSettings(4003),
  signalWindowDays: { env: 'TAILOR_SIGNAL_WINDOW_DAYS', schema: settingTypes.positiveInt(30, 365), doc: 'Events older than this are not used for recommendations.' },
  halfLifeDays: { env: 'TAILOR_HALF_LIFE_DAYS', schema: settingTypes.positiveNumber(3), doc: 'An event weighs half as much after this many days.' },
  viewWeight: { env: 'TAILOR_VIEW_WEIGHT', schema: settingTypes.positiveNumber(1), doc: 'Weight of a VIEW event.' },
  clickWeight: { env: 'TAILOR_CLICK_WEIGHT', schema: settingTypes.positiveNumber(2), doc: 'Weight of a CLICK event (a product clicked in an email).' },
  cartWeight: { env: 'TAILOR_CART_WEIGHT', schema: settingTypes.positiveNumber(3), doc: 'Weight of an ADD_TO_CART event.' },
  sessionMinutes: { env: 'TAILOR_SESSION_MINUTES', schema: settingTypes.positiveInt(30, 24 * 60), doc: 'Two views this close together are a co-view (SIMILAR).' },
  actedMax: {
    env: 'TAILOR_ACTED_MAX',
    schema: settingTypes.positiveInt(50, 500),
    doc: 'Products the user acted on kept as candidates, strongest first (at least the recommendations cap).',
  },
  similarMax: {
    env: 'TAILOR_SIMILAR_MAX',
    schema: settingTypes.positiveInt(20, 500),
    doc: 'Co-viewed (SIMILAR) candidates kept per user; TRENDING fills any place beyond them.',
  },
};

export type BehaviorConfig = ConfigOf<typeof behaviorSettings>;

/** Reads and validates the behavior subgraph's configuration; throws a `ConfigError` naming every bad setting. */
export const loadBehaviorConfig = (source: ConfigSource): BehaviorConfig => loadConfig(behaviorSettings, source);
