// spec: server-server-api "Transactions" (PUT /_matrix/federation/v1/send/{txnId}): the
// transaction envelope. PDUs go to the event handler (every check of "Checks performed on receipt
// of a PDU"), EDUs to FederationEdus. A transaction is processed once per origin and ID: a retry
// (the sender did not see our answer) gets the stored answer, and a retry that arrives while the
// first is still being processed waits for it.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { MatrixError } from '../../errors.js';
import { MAX_EDUS_PER_TXN, MAX_PDUS_PER_TXN } from '../../services/federation/sender.js';
import { federationOrigin } from './auth.js';

const TxnBody = Type.Object({
  origin: Type.String(),
  origin_server_ts: Type.Integer(),
  pdus: Type.Array(Type.Unknown()),
  edus: Type.Optional(Type.Array(Type.Unknown())),
}, { additionalProperties: true });

type TxnResponse = { pdus: Record<string, { error?: string }> };

/** Transaction IDs are remembered this long: a sender retries for minutes, not days. */
const REMEMBER_TXNS_MS = 24 * 3600_000;

export function federationTransportRoutes(app: FastifyInstance, hs: Homeserver): void {
  const inFlight = new Map<string, Promise<TxnResponse>>();
  let lastPrune = 0;

  app.put<{ Params: { txnId: string }; Body: Static<typeof TxnBody> }>('/_matrix/federation/v1/send/:txnId', {
    schema: { params: Type.Object({ txnId: Type.String({ minLength: 1, maxLength: 255 }) }), body: TxnBody },
    // Servers send one transaction at a time per destination; the general client limiter is not for them.
    config: { rateLimited: false },
  }, async (req) => {
    const origin = federationOrigin(req);
    const { body } = req;
    if (body.origin !== origin) throw new MatrixError('M_FORBIDDEN', 'The transaction origin is not the server that signed the request', 403);
    // spec: "Transactions are limited in size; they can have at most 50 PDUs and 100 EDUs."
    if (body.pdus.length > MAX_PDUS_PER_TXN) throw new MatrixError('M_BAD_JSON', `A transaction holds at most ${MAX_PDUS_PER_TXN} PDUs`, 400);
    if ((body.edus?.length ?? 0) > MAX_EDUS_PER_TXN) throw new MatrixError('M_BAD_JSON', `A transaction holds at most ${MAX_EDUS_PER_TXN} EDUs`, 400);

    const key = `${origin}\u0000${req.params.txnId}`;
    const running = inFlight.get(key);
    if (running) return running;
    const stored = await hs.storage.federation.inboundTxnResponse(origin, req.params.txnId);
    if (stored !== undefined) return JSON.parse(stored) as TxnResponse;
    const work = (async (): Promise<TxnResponse> => {
      const pdus = body.pdus.length > 0 ? await hs.federationEvents.receiveTransactionPdus(origin, body.pdus) : {};
      await hs.federationEdus.receive(origin, body.edus ?? []);
      const response = { pdus };
      const now = Date.now();
      await hs.storage.federation.storeInboundTxn(origin, req.params.txnId, JSON.stringify(response), now);
      if (now - lastPrune > 3600_000) {
        lastPrune = now;
        hs.storage.federation.pruneInboundTxns(now - REMEMBER_TXNS_MS).catch((err: unknown) => req.log.error({ err }, 'pruning transaction IDs failed'));
      }
      return response;
    })();
    inFlight.set(key, work);
    try {
      return await work;
    } finally {
      inFlight.delete(key);
    }
  });
}
