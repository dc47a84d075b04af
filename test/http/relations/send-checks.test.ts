// The checks made when a relation is sent: no thread from an event that has a relation
// (modules/threading "Validation of m.thread relationships") and no duplicate annotations
// (modules/event_annotations "Avoiding duplicate annotations").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, redact, relatesTo, relations, reply, send, text } from './helpers.js';

describe.each(ENGINES)('relation checks at send time (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    [alice, bob] = [new Client(server.baseUrl), new Client(server.baseUrl)];
    await alice.register('alice');
    await bob.register('bob');
  });
  afterAll(() => server.close());

  let txn = 0;
  const attempt = (c: Client, roomId: string, content: Record<string, unknown>, type = 'm.room.message', txnId = `chk${++txn}`) =>
    c.put<{ event_id: string; errcode?: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(type)}/${txnId}`, content);
  const react = (key: string, target: string) => ({ 'm.relates_to': { rel_type: 'm.annotation', event_id: target, key } });
  const timeline = async (roomId: string) =>
    (await alice.get<{ chunk: Array<{ event_id: string }> }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100`)).body.chunk.length;

  describe('threads', () => {
    it('refuses to start a thread from an event that has a relation, with 400 M_UNKNOWN', async () => {
      const roomId = await createRoom(alice);
      const root = await send(alice, roomId, text('root'));
      const inThread = await reply(alice, roomId, root, 'in the thread');
      const edit = await send(alice, roomId, { ...text('* root!'), 'm.new_content': text('root!'), ...relatesTo('m.replace', root) });
      const reference = await send(alice, roomId, text('see above', relatesTo('m.reference', root)));
      const before = await timeline(roomId);
      for (const parent of [inThread, edit, reference]) {
        const r = await attempt(alice, roomId, text('nested', relatesTo('m.thread', parent)));
        expect(r.status, JSON.stringify(r.body)).toBe(400);
        expect(r.body.errcode).toBe('M_UNKNOWN');
      }
      // Nothing was persisted.
      expect(await timeline(roomId)).toBe(before);
      // Replying in the thread (to its root) still works.
      expect((await attempt(alice, roomId, text('more', relatesTo('m.thread', root)))).status).toBe(200);
    });

    it('allows threads from rich replies, redacted relations and unknown events', async () => {
      const roomId = await createRoom(alice);
      const root = await send(alice, roomId, text('root'));
      // A rich reply has m.relates_to but no rel_type: not a relationship.
      const richReply = await send(alice, roomId, text('a reply', { 'm.relates_to': { 'm.in_reply_to': { event_id: root } } }));
      expect((await attempt(alice, roomId, text('thread', relatesTo('m.thread', richReply)))).status).toBe(200);
      // A redaction strips the relation, so the redacted event may become a thread root.
      const ref = await send(alice, roomId, text('ref', relatesTo('m.reference', root)));
      await redact(alice, roomId, ref);
      expect((await attempt(alice, roomId, text('thread', relatesTo('m.thread', ref)))).status).toBe(200);
      expect((await attempt(alice, roomId, text('thread', relatesTo('m.thread', '$unknown-event')))).status).toBe(200);
    });
  });

  describe('annotations', () => {
    it('refuses a second identical annotation from the same user with 400 M_DUPLICATE_ANNOTATION', async () => {
      const roomId = await createRoom(alice);
      await join(bob, roomId);
      const target = await send(alice, roomId, text('react to me'));
      expect((await attempt(alice, roomId, react('👍', target), 'm.reaction')).status).toBe(200);
      const before = await timeline(roomId);
      const dup = await attempt(alice, roomId, react('👍', target), 'm.reaction');
      expect(dup.status).toBe(400);
      expect(dup.body.errcode).toBe('M_DUPLICATE_ANNOTATION');
      expect(await timeline(roomId)).toBe(before);

      // Another key, another user, another event type or another target is not a duplicate.
      expect((await attempt(alice, roomId, react('👎', target), 'm.reaction')).status).toBe(200);
      expect((await attempt(bob, roomId, react('👍', target), 'm.reaction')).status).toBe(200);
      expect((await attempt(alice, roomId, react('👍', target), 'org.example.reaction')).status).toBe(200);
      const other = await send(alice, roomId, text('another'));
      expect((await attempt(alice, roomId, react('👍', other), 'm.reaction')).status).toBe(200);
      const listed = await relations(alice, roomId, target, ['m.annotation']);
      expect(listed.chunk).toHaveLength(4);
    });

    it('allows the annotation again once the first is redacted, and a retried transaction gets its event back', async () => {
      const roomId = await createRoom(alice);
      const target = await send(alice, roomId, text('react to me'));
      const first = await attempt(alice, roomId, react('🎉', target), 'm.reaction', 'same-txn');
      expect(first.status).toBe(200);
      // The retry of the same request is not a second annotation.
      const retry = await attempt(alice, roomId, react('🎉', target), 'm.reaction', 'same-txn');
      expect(retry.status).toBe(200);
      expect(retry.body.event_id).toBe(first.body.event_id);
      await redact(alice, roomId, first.body.event_id);
      const again = await attempt(alice, roomId, react('🎉', target), 'm.reaction');
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect((await attempt(alice, roomId, react('🎉', target), 'm.reaction')).body.errcode).toBe('M_DUPLICATE_ANNOTATION');
    });
  });
});
