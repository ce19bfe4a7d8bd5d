// Catalog, radio, recommendations and context routes as one Fastify plugin, over the
// services src/radio/services.ts builds. Until the recommender is built every route here
// answers 503 with Retry-After at once. Shared schemas stay at the root (app.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { catalogRoutes } from '../catalog/routes.ts';
import { AppError } from '../errors.ts';
import { radioRoutes } from './routes.ts';
import { RETRY_AFTER_SECONDS, type Recommendations } from './services.ts';

export function recommendationsPlugin(r: Recommendations, now: () => number): FastifyPluginAsyncTypebox {
  return async (app) => {
    // Until the recommender is built its routes answer at once: 503 + Retry-After, not a hang.
    app.addHook('onRequest', async (_r, reply) => {
      if (r.readiness.ready) return;
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      throw new AppError(
        'unavailable',
        'recommender_not_ready',
        r.readiness.error ? 'the recommender could not be built' : 'the recommender is still being built; retry shortly',
        {},
      );
    });
    await app.register(catalogRoutes({ catalog: r.catalog, sync: r.sync, reco: r.reco, contextual: r.contextual, now, answers: r.answers }));
    await app.register(radioRoutes({ radio: r.radio, mixes: r.mixes, contextual: r.contextual, answers: r.answers }));
  };
}
