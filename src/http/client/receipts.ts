// spec: client-server-api modules/receipts ("POST /rooms/{roomId}/receipt/{receiptType}/{eventId}"),
// modules/read_markers ("POST /rooms/{roomId}/read_markers")
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { MatrixError } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { FULLY_READ, RECEIPT_TYPES, type ReadMarkers, type ReceiptType } from '../../services/receipts.js';
import { requester } from '../server.js';
import { checkRoomId } from './rooms.js';

const ReceiptParams = Type.Object({
  roomId: Type.String({ minLength: 1, maxLength: 255 }),
  receiptType: Type.String({ minLength: 1, maxLength: 255 }),
  eventId: Type.String({ minLength: 1, maxLength: 255 }),
});
// thread_id is checked by hand: the spec answers a bad one with M_INVALID_PARAM, not M_BAD_JSON.
const ReceiptBody = Type.Object({ thread_id: Type.Optional(Type.Unknown()) }, { additionalProperties: true });
const EventId = Type.String({ minLength: 1, maxLength: 255 });
// Unknown receipt types are ignored, as Synapse does: receipt types are meant to be extensible.
const ReadMarkersBody = Type.Object({
  'm.fully_read': Type.Optional(EventId),
  'm.read': Type.Optional(EventId),
  'm.read.private': Type.Optional(EventId),
}, { additionalProperties: true });

const KNOWN_TYPES: readonly string[] = [...RECEIPT_TYPES, FULLY_READ];

function checkEventId(eventId: string): string {
  if (!eventId.startsWith('$')) throw new MatrixError('M_INVALID_PARAM', `Invalid event ID ${JSON.stringify(eventId)}`, 400);
  return eventId;
}

export function receiptRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.post<{ Params: Static<typeof ReceiptParams>; Body: Static<typeof ReceiptBody> | undefined }>('/_matrix/client/v3/rooms/:roomId/receipt/:receiptType/:eventId', {
    schema: { params: ReceiptParams, body: Type.Optional(ReceiptBody) }, config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    const { receiptType } = req.params;
    if (!KNOWN_TYPES.includes(receiptType)) throw new MatrixError('M_INVALID_PARAM', `Receipt type must be one of ${KNOWN_TYPES.join(', ')}`, 400);
    const eventId = checkEventId(req.params.eventId);
    const threadId = req.body?.thread_id;
    if (threadId !== undefined) {
      if (typeof threadId !== 'string' || threadId.length === 0) throw new MatrixError('M_INVALID_PARAM', 'thread_id field must be a non-empty string', 400);
      if (receiptType === FULLY_READ) throw new MatrixError('M_INVALID_PARAM', `thread_id is not compatible with ${FULLY_READ} receipts`, 400);
    }
    // spec: "this endpoint effectively calls /read_markers internally" for m.fully_read.
    if (receiptType === FULLY_READ) await hs.receipts.setReadMarkers(userId, roomId, { [FULLY_READ]: eventId });
    else await hs.receipts.sendReceipt(userId, roomId, receiptType as ReceiptType, eventId, threadId as string | undefined);
    await hs.presence.bumpActive(userId);
    return {};
  });

  app.post<{ Params: { roomId: string }; Body: Static<typeof ReadMarkersBody> }>('/_matrix/client/v3/rooms/:roomId/read_markers', {
    schema: { params: Type.Object({ roomId: Type.String({ minLength: 1, maxLength: 255 }) }), body: ReadMarkersBody }, config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    const markers: ReadMarkers = {};
    for (const type of KNOWN_TYPES as Array<keyof ReadMarkers>) {
      const eventId = req.body[type];
      if (eventId !== undefined) markers[type] = checkEventId(eventId);
    }
    await hs.receipts.setReadMarkers(userId, roomId, markers);
    await hs.presence.bumpActive(userId);
    return {};
  });
}
