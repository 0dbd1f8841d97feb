import type { ApolloServerOptions, ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { createClientErrorPlugin } from './clientErrorPlugin';
import { type ClientErrorDetail, formatClientError } from './errors';
import type { Logger } from './logger';

/**
 * Apollo Server options every Tailor server shares: nothing is reported off the machine (usage and
 * schema reporting, inline traces), no hosted landing page is served, Tailor's own `Cache-Control`
 * replaces Apollo's, client mistakes get a 400 and a client code, and clients never see a stack trace
 * or an internal message. Signals are the service runner's to handle, not Apollo's.
 */
export function apolloDefaults<TContext extends BaseContext>(logger: Logger, reveal?: ClientErrorDetail): Pick<ApolloServerOptions<TContext>, 'includeStacktraceInErrorResponses' | 'formatError' | 'stopOnTerminationSignals'> & { plugins: ApolloServerPlugin<TContext>[] } {
  return {
    includeStacktraceInErrorResponses: false,
    // The service runner (kit/runService.ts) owns SIGINT/SIGTERM: it drains HTTP, stops Apollo once, then closes stores.
    stopOnTerminationSignals: false,
    formatError: (formatted) => formatClientError(formatted, (original) => logger.error({ err: original }, 'operation failed'), reveal),
    plugins: [
      createClientErrorPlugin<TContext>(),
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
    ],
  };
}
