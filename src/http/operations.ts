// Routes for operators and load balancers: health, readiness, metrics, and the two
// machine-readable API documents. Probes answer even under overload (admission: false).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Metrics } from '../metrics.ts';
import { errorBody } from './errors.ts';

export interface OperationsDeps {
  store: { readonly kind: string; ping(): Promise<void> };
  metrics: Metrics;
  /** Whether the recommender is built (the instance is not ready before). */
  recommender: { ready: boolean; error: string | null; built?: unknown; progress?: unknown };
  retryAfterSeconds: number;
  asyncApi(): unknown;
}

export function operationsRoutes(d: OperationsDeps): FastifyPluginAsyncTypebox {
  return async (http) => {
    const pub = { auth: 'public' as const };
    // Health, readiness and metrics answer even under overload (probes must see the process).
    const probe = { auth: 'public' as const, admission: false };
    http.get('/openapi.json', { config: pub, schema: { hide: true } }, async () => http.swagger());
    http.get('/asyncapi.json', { config: pub, schema: { hide: true } }, async () => d.asyncApi());
    http.get('/healthz', { config: probe, schema: { tags: ['operations'], summary: 'The process is up', security: [] } }, async () => ({ status: 'ok' }));
    // The recommender builds in the background after start; until it is built (and while the
    // store does not answer) the instance is not ready: a load balancer sends traffic elsewhere.
    http.get(
      '/readyz',
      {
        config: probe,
        schema: {
          tags: ['operations'],
          summary: 'Ready for traffic: the store answers and the recommender is built (else 503 with Retry-After)',
          security: [],
        },
      },
      async (_r, reply) => {
        try {
          await d.store.ping();
        } catch (err) {
          return reply.status(503).send(errorBody('store_unavailable', 'the store does not answer', { store: d.store.kind, reason: String(err) }));
        }
        if (!d.recommender.ready) {
          reply.header('retry-after', String(d.retryAfterSeconds));
          return reply.status(503).send(
            errorBody('recommender_not_ready', d.recommender.error ? 'the recommender could not be built' : 'the recommender is still being built', {
              store: d.store.kind,
              ...(d.recommender.progress ? { progress: d.recommender.progress } : {}),
            }),
          );
        }
        return { status: 'ready', store: d.store.kind, recommender: d.recommender.built };
      },
    );
    http.get('/metrics', { config: probe, schema: { hide: true } }, async (_r, reply) => {
      reply.header('content-type', d.metrics.registry.contentType);
      return d.metrics.registry.metrics();
    });
  };
}
