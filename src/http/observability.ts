// /health for load balancers and Prometheus /metrics for operators.
import type { FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { Resource } from '../config.js';
import type { Homeserver } from '../homeserver.js';

export const metricsRegistry = new client.Registry();
client.collectDefaultMetrics({ register: metricsRegistry, prefix: 'weft_' });

const requests = new client.Counter({
  name: 'weft_http_requests_total',
  help: 'HTTP requests by route, method and status code',
  labelNames: ['route', 'method', 'code'] as const,
  registers: [metricsRegistry],
});
const duration = new client.Histogram({
  name: 'weft_http_request_duration_seconds',
  help: 'HTTP request duration by route and method',
  labelNames: ['route', 'method'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  registers: [metricsRegistry],
});

export function recordRequest(route: string, method: string, status: number, ms: number): void {
  requests.inc({ route, method, code: String(status) });
  duration.observe({ route, method }, ms / 1000);
}

export function observabilityRoutes(app: FastifyInstance, _hs: Homeserver, resources: readonly Resource[]): void {
  if (resources.includes('health')) {
    app.get('/health', { config: { rateLimited: false } }, async (_req, reply) => reply.type('text/plain').send('OK'));
  }
  if (resources.includes('metrics')) {
    app.get('/metrics', { config: { rateLimited: false } }, async (_req, reply) =>
      reply.type(metricsRegistry.contentType).send(await metricsRegistry.metrics()));
  }
}
