// Unread notification and highlight counts over real HTTP: push rules evaluated when events are
// sent, counts per room and per thread, cleared by read receipts and by the user's own events,
// and still right after the server restarts on the same database.
// spec: client-server-api modules/push "Receiving notifications", "Marking notifications as read";
// modules/receipts "Threaded read receipts"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, send } from '../ephemeral/helpers.js';

const text = (body: string, extra: Record<string, unknown> = {}) => ({ msgtype: 'm.text', body, 'm.mentions': {}, ...extra });
/** A message as clients before spec v1.7 sent it: no m.mentions, so the legacy mention rules apply. */
const legacyText = (body: string) => ({ msgtype: 'm.text', body });
const zero = { notification_count: 0, highlight_count: 0, threads: {} };

describe.each(ENGINES)('unread notification counts (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let aliceId: string;
  let bobId: string;
  let carolId: string;

  const counts = (userId: string, roomId: string) => server.hs.notifications.counts(userId, roomId);
  const receipt = async (client: Client, roomId: string, eventId: string, type = 'm.read', body: Record<string, unknown> = {}) => {
    const r = await client.post(`/_matrix/client/v3/rooms/${enc(roomId)}/receipt/${type}/${enc(eventId)}`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  const setDisplayName = async (client: Client, userId: string, displayname: string) => {
    const r = await client.put(`/_matrix/client/v3/profile/${enc(userId)}/displayname`, { displayname });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  /** A room of alice (its creator, power 100), bob and carol. */
  const groupRoom = async () => {
    const roomId = await createRoom(alice);
    await join(bob, roomId);
    await join(carol, roomId);
    return roomId;
  };

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    carolId = (await carol.register('carol')).user_id;
    await setDisplayName(alice, aliceId, 'Alice Liddell');
    await setDisplayName(bob, bobId, 'Bobby Tables');
    await setDisplayName(carol, carolId, 'Carol Danvers');
  });
  afterAll(() => server.close());

  it('a message notifies every other joined member, not its sender; joins do not notify', async () => {
    const roomId = await groupRoom();
    expect(await counts(bobId, roomId)).toEqual(zero);
    await send(alice, roomId, text('hello everyone'));
    await send(alice, roomId, text('anyone?'));
    expect(await counts(bobId, roomId)).toEqual({ notification_count: 2, highlight_count: 0, threads: { main: { notification_count: 2, highlight_count: 0 } } });
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 2, highlight_count: 0 });
    expect(await counts(aliceId, roomId)).toEqual(zero);
  });

  it('highlights a user mention (m.mentions) for the mentioned user only', async () => {
    const roomId = await groupRoom();
    await send(alice, roomId, text('Bobby, look', { 'm.mentions': { user_ids: [bobId] } }));
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 1 });
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 0 });
  });

  it('highlights the display name and the user name in the body of a message without m.mentions', async () => {
    const roomId = await groupRoom();
    await send(alice, roomId, legacyText('is Bobby Tables here?'));
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 1 });
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 0 });
    await send(alice, roomId, legacyText('carol: ping'));
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 2, highlight_count: 1 });
    // With m.mentions present, the body is not searched.
    await send(alice, roomId, text('Bobby Tables and carol'));
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 3, highlight_count: 1 });
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 3, highlight_count: 1 });
  });

  it('highlights @room for everyone when the sender has the room notification level, and follows power level changes', async () => {
    const roomId = await groupRoom();
    await send(alice, roomId, text('all hands', { 'm.mentions': { room: true } }));
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 1 });
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 1 });
    // Bob has power 0 < notifications.room (50): a notification, not a highlight.
    await send(bob, roomId, text('all hands?', { 'm.mentions': { room: true } }));
    await send(bob, roomId, legacyText('@room anyone?'));
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 3, highlight_count: 1 });
    expect(await counts(aliceId, roomId)).toMatchObject({ notification_count: 2, highlight_count: 0 });
    // Lower the room notification level to 0: now bob may.
    const pl = await alice.get<Record<string, unknown>>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`);
    const r = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`, { ...pl.body, notifications: { room: 0 } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await send(bob, roomId, text('all hands!', { 'm.mentions': { room: true } }));
    await send(bob, roomId, legacyText('@room again'));
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 5, highlight_count: 3 });
  });

  it('notifies in a two-member room (one to one), encrypted events too; not notices, reactions, edits or state', async () => {
    const roomId = await createRoom(alice, { preset: 'trusted_private_chat', invite: [bobId], is_direct: true });
    await join(bob, roomId);
    const first = await send(alice, roomId, text('hi bob, just us'));
    await send(alice, roomId, { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'AwgAEn', sender_key: 'x', session_id: 'y', device_id: 'Z' }, 'm.room.encrypted');
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 2, highlight_count: 0 });
    await send(alice, roomId, { msgtype: 'm.notice', body: 'a bot speaks' });
    await send(alice, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: first, key: '👍' } }, 'm.reaction');
    await send(alice, roomId, { msgtype: 'm.text', body: '* hi bob', 'm.new_content': text('hi bob'), 'm.relates_to': { rel_type: 'm.replace', event_id: first } });
    const topic = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic/`, { topic: 'bob' });
    expect(topic.status).toBe(200);
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 2, highlight_count: 0 });
    // A call rings.
    await send(alice, roomId, { call_id: 'c1', lifetime: 60000, version: '1', offer: { type: 'offer', sdp: 'v=0' } }, 'm.call.invite');
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 3, highlight_count: 0 });
  });

  it('an invite notifies the invited local user; a room upgrade highlights', async () => {
    const dave = new Client(server.baseUrl);
    const daveId = (await dave.register('dave')).user_id;
    const roomId = await groupRoom();
    const invite = await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: daveId });
    expect(invite.status, JSON.stringify(invite.body)).toBe(200);
    expect(await counts(daveId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 0 });
    expect(await counts(bobId, roomId)).toEqual(zero); // an invite of someone else is a member event

    const upgrade = await alice.post<{ replacement_room: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/upgrade`, { new_version: '11' });
    expect(upgrade.status, JSON.stringify(upgrade.body)).toBe(200);
    // The tombstone, then the power levels change that restricts the old room.
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 1 });
  });

  it('an event most members are not notified of still notifies the one it mentions', async () => {
    const roomId = await groupRoom();
    const dave = new Client(server.baseUrl);
    const daveId = (await dave.register('dave2')).user_id;
    await join(dave, roomId);
    // No predefined rule matches a custom event type, but the mention rule matches any type.
    await send(alice, roomId, { body: 'ping', 'm.mentions': { user_ids: [bobId] } }, 'org.example.ping');
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 1 });
    expect(await counts(carolId, roomId)).toEqual(zero);
    expect(await counts(daveId, roomId)).toEqual(zero);
  });

  it('counts only what came after a member joined; leaving and rejoining starts again', async () => {
    const roomId = await groupRoom();
    await send(alice, roomId, text('before dave'));
    const dave = new Client(server.baseUrl);
    const daveId = (await dave.register('dave3')).user_id;
    await join(dave, roomId);
    expect(await counts(daveId, roomId)).toEqual(zero);
    await send(alice, roomId, text('welcome dave'));
    expect(await counts(daveId, roomId)).toMatchObject({ notification_count: 1 });
    expect((await dave.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {})).status).toBe(200);
    await send(alice, roomId, text('dave is gone'));
    expect(await counts(daveId, roomId)).toEqual(zero);
    await join(dave, roomId);
    expect(await counts(daveId, roomId)).toEqual(zero);
    await send(alice, roomId, text('dave is back'));
    expect(await counts(daveId, roomId)).toMatchObject({ notification_count: 1 });
  });

  it('members who left are not counted; display name changes are followed', async () => {
    const roomId = await groupRoom();
    const leave = await carol.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    expect(leave.status).toBe(200);
    await send(alice, roomId, text('carol left'));
    expect(await counts(carolId, roomId)).toEqual(zero);
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 1 });
    // Bob's room display name changes (a member event, which as his own event also marks the
    // room read for him); the new name is matched, the old one no longer.
    const member = await bob.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(bobId)}`, { membership: 'join', displayname: 'Robert' });
    expect(member.status, JSON.stringify(member.body)).toBe(200);
    expect(await counts(bobId, roomId)).toEqual(zero);
    await send(alice, roomId, legacyText('Robert?'));
    await send(alice, roomId, legacyText('Bobby Tables?'));
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 2, highlight_count: 1 });
  });

  it('a read receipt clears what is up to its event; m.read and m.read.private, whichever is further', async () => {
    const roomId = await groupRoom();
    const m1 = await send(alice, roomId, text('one'));
    const m2 = await send(alice, roomId, text('two', { 'm.mentions': { user_ids: [bobId] } }));
    const m3 = await send(alice, roomId, text('three'));
    const m4 = await send(alice, roomId, text('four'));
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 4, highlight_count: 1 });

    await receipt(bob, roomId, m1);
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 3, highlight_count: 1 });
    await receipt(bob, roomId, m2, 'm.read.private');
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 2, highlight_count: 0 });
    // An m.read behind the private receipt does not bring anything back.
    await receipt(bob, roomId, m1);
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 2, highlight_count: 0 });
    await receipt(bob, roomId, m3);
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 1, highlight_count: 0 });
    // Carol's counts are her own.
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 4, highlight_count: 0 });
    // read_markers sets receipts too.
    const markers = await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/read_markers`, { 'm.fully_read': m4, 'm.read': m4 });
    expect(markers.status).toBe(200);
    expect(await counts(bobId, roomId)).toEqual(zero);
    // New events count again.
    await send(alice, roomId, text('five'));
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: 1 });
  });

  it('counts per thread; a threaded receipt clears only its thread, an unthreaded one everything before it', async () => {
    const roomId = await groupRoom();
    const root = await send(alice, roomId, text('thread root'));
    const inThread = (body: string, extra: Record<string, unknown> = {}) => text(body, { 'm.relates_to': { rel_type: 'm.thread', event_id: root, is_falling_back: true, 'm.in_reply_to': { event_id: root } }, ...extra });
    const t1 = await send(alice, roomId, inThread('reply 1'));
    const t2 = await send(alice, roomId, inThread('reply 2', { 'm.mentions': { user_ids: [bobId] } }));
    const main1 = await send(alice, roomId, text('main 1'));
    // A reaction to a thread reply is in the thread too, but reactions do not notify.
    await send(alice, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: t1, key: '👀' } }, 'm.reaction');
    const t3 = await send(alice, roomId, inThread('reply 3'));
    const main2 = await send(alice, roomId, text('main 2'));
    expect(await counts(bobId, roomId)).toEqual({
      notification_count: 6, highlight_count: 1,
      threads: { main: { notification_count: 3, highlight_count: 0 }, [root]: { notification_count: 3, highlight_count: 1 } },
    });

    // Threaded receipt in the thread, at reply 2: clears replies 1 and 2 only.
    await receipt(bob, roomId, t2, 'm.read', { thread_id: root });
    expect((await counts(bobId, roomId)).threads).toEqual({ main: { notification_count: 3, highlight_count: 0 }, [root]: { notification_count: 1, highlight_count: 0 } });
    // Threaded receipt on the main timeline at main 1: clears the root and main 1, not the thread.
    await receipt(bob, roomId, main1, 'm.read', { thread_id: 'main' });
    expect((await counts(bobId, roomId)).threads).toEqual({ main: { notification_count: 1, highlight_count: 0 }, [root]: { notification_count: 1, highlight_count: 0 } });
    // Carol reads unthreaded up to reply 3: everything before it in every thread, main 2 stays.
    await receipt(carol, roomId, t3);
    expect(await counts(carolId, roomId)).toEqual({ notification_count: 1, highlight_count: 0, threads: { main: { notification_count: 1, highlight_count: 0 } } });
    await receipt(bob, roomId, main2);
    expect(await counts(bobId, roomId)).toEqual(zero);
  });

  it('sending an event marks its thread read for the sender', async () => {
    const roomId = await groupRoom();
    const root = await send(alice, roomId, text('root'));
    await send(alice, roomId, text('in thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }));
    await send(alice, roomId, text('main'));
    expect((await counts(bobId, roomId)).threads).toEqual({ main: { notification_count: 2, highlight_count: 0 }, [root]: { notification_count: 1, highlight_count: 0 } });
    await send(bob, roomId, text('bob answers in the main timeline'));
    expect((await counts(bobId, roomId)).threads).toEqual({ [root]: { notification_count: 1, highlight_count: 0 } });
    // An earlier receipt does not undo it.
    await receipt(bob, roomId, root);
    expect((await counts(bobId, roomId)).threads).toEqual({ [root]: { notification_count: 1, highlight_count: 0 } });
    await send(bob, roomId, text('and in the thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }));
    expect(await counts(bobId, roomId)).toEqual(zero);
  });

  it('stays exact while events, receipts and reads of the counts run concurrently', async () => {
    const roomId = await groupRoom();
    const sent: string[] = [];
    let sending = true;
    const sender = (async () => {
      try {
        for (let i = 0; i < 40; i += 4) {
          const ids = await Promise.all([0, 1, 2, 3].map((j) => send(alice, roomId, text(`burst ${i + j}`))));
          sent.push(...ids);
        }
      } finally {
        sending = false;
      }
    })();
    const reader = (async () => {
      while (sending) {
        // In-process reads of SQLite resolve without returning to the event loop: yield to it.
        await new Promise((resolve) => setImmediate(resolve));
        const latest = sent.at(-1);
        await Promise.all([latest === undefined ? undefined : receipt(bob, roomId, latest), counts(bobId, roomId), counts(bobId, roomId)]);
      }
    })();
    await Promise.all([sender, reader]);
    const read = await server.hs.storage.receipts.get(roomId, 'm.read', bobId);
    const nids = await Promise.all(sent.map(async (id) => (await server.hs.storage.events.getEvent(id))?.nid ?? 0));
    const unread = nids.filter((nid) => nid > (read?.eventNid ?? 0)).length;
    expect(await counts(bobId, roomId)).toMatchObject({ notification_count: unread, highlight_count: 0 });
    expect(await counts(carolId, roomId)).toMatchObject({ notification_count: 40 });
  });

  it('agrees with a model of the rules over a random run of messages, thread replies, own events and receipts', async () => {
    const roomId = await groupRoom();
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const nidOf = async (eventId: string) => (await server.hs.storage.events.getEvent(eventId))?.nid ?? 0;
    // The model: what bob was notified of, and where he has read up to.
    const events: Array<{ id: string; nid: number; thread: string; highlight: boolean; own: boolean }> = [];
    const receipts = new Map<string, number>(); // `${type} ${thread ?? ''}` → nid
    const roots: string[] = [];
    const expected = () => {
      const unthreaded = Math.max(receipts.get('m.read ') ?? 0, receipts.get('m.read.private ') ?? 0);
      const threads: Record<string, { notification_count: number; highlight_count: number }> = {};
      let n = 0;
      let h = 0;
      for (const e of events) {
        if (e.own) continue;
        const ownLater = events.some((o) => o.own && o.thread === e.thread && o.nid > e.nid);
        const read = Math.max(unthreaded, receipts.get(`m.read ${e.thread}`) ?? 0, receipts.get(`m.read.private ${e.thread}`) ?? 0);
        if (e.nid <= read || ownLater) continue;
        const t = (threads[e.thread] ??= { notification_count: 0, highlight_count: 0 });
        t.notification_count++;
        n++;
        if (e.highlight) {
          t.highlight_count++;
          h++;
        }
      }
      return { notification_count: n, highlight_count: h, threads };
    };
    for (let step = 0; step < 80; step++) {
      const op = random(10);
      if (op < 5) {
        const mention = random(4) === 0;
        const inThread = roots.length > 0 && random(2) === 0;
        const root = inThread ? roots[random(roots.length)] : undefined;
        const own = random(5) === 0;
        const content = text(`step ${step}`, {
          ...(mention ? { 'm.mentions': { user_ids: [bobId] } } : {}),
          ...(root ? { 'm.relates_to': { rel_type: 'm.thread', event_id: root } } : {}),
        });
        const id = await send(own ? bob : alice, roomId, content);
        events.push({ id, nid: await nidOf(id), thread: root ?? 'main', highlight: mention, own });
        if (!root && !own && random(3) === 0) roots.push(id);
      } else if (op < 9 && events.length > 0) {
        const target = events[random(events.length)];
        const type = random(2) === 0 ? 'm.read' : 'm.read.private';
        const threaded = random(2) === 0;
        await receipt(bob, roomId, target.id, type, threaded ? { thread_id: target.thread } : {});
        const key = `${type} ${threaded ? target.thread : ''}`;
        receipts.set(key, Math.max(receipts.get(key) ?? 0, target.nid));
      }
      if (random(3) === 0) expect(await counts(bobId, roomId), `step ${step}`).toEqual(expected());
    }
    expect(await counts(bobId, roomId)).toEqual(expected());
    // Counted from nothing (no cache), the answer is the same.
    await server.hs.storage.database.db.deleteFrom('event_push_summary').where('room_id', '=', roomId).execute();
    expect(await counts(bobId, roomId)).toEqual(expected());
  });

  it('answers for many rooms at once', async () => {
    const r1 = await groupRoom();
    const r2 = await groupRoom();
    await send(alice, r1, text('in r1'));
    await send(alice, r2, text('in r2', { 'm.mentions': { user_ids: [bobId] } }));
    await send(alice, r2, text('again r2'));
    const all = await server.hs.notifications.countsForRooms(bobId, [r1, r2, '!unknown:test.local']);
    expect([...all.keys()]).toEqual([r1, r2, '!unknown:test.local']);
    expect(all.get(r1)).toMatchObject({ notification_count: 1, highlight_count: 0 });
    expect(all.get(r2)).toMatchObject({ notification_count: 2, highlight_count: 1 });
    expect(all.get('!unknown:test.local')).toEqual(zero);
    expect(await server.hs.notifications.countsForRooms(bobId, [])).toEqual(new Map());
  });
});

describe.each(ENGINES)('unread notification counts across a restart (%s)', (engine) => {
  let server: TestServer;
  afterAll(() => server.close());

  it('keeps counts, clears them with receipts and counts new events after the server restarts', async () => {
    server = await startTestServer(engine);
    let alice = new Client(server.baseUrl);
    let bob = new Client(server.baseUrl);
    await alice.register('alice');
    const bobId = (await bob.register('bob')).user_id;
    const roomId = await createRoom(alice);
    await join(bob, roomId);
    const root = await send(alice, roomId, text('root'));
    const m1 = await send(alice, roomId, text('one'));
    await send(alice, roomId, text('two', { 'm.mentions': { user_ids: [bobId] } }));
    await send(alice, roomId, text('in thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }));
    await receipt(m1);
    const before = await server.hs.notifications.counts(bobId, roomId);
    expect(before).toEqual({
      notification_count: 2, highlight_count: 1,
      threads: { main: { notification_count: 1, highlight_count: 1 }, [root]: { notification_count: 1, highlight_count: 0 } },
    });

    server = await server.restart();
    alice = new Client(server.baseUrl, alice.token);
    bob = new Client(server.baseUrl, bob.token);
    expect(await server.hs.notifications.counts(bobId, roomId)).toEqual(before);
    // The room's push context is rebuilt from the database for the next event.
    const m3 = await send(alice, roomId, text('three'));
    expect(await server.hs.notifications.counts(bobId, roomId)).toMatchObject({ notification_count: 3, highlight_count: 1 });
    await receipt(m3, { thread_id: 'main' });
    expect(await server.hs.notifications.counts(bobId, roomId)).toEqual({ notification_count: 1, highlight_count: 0, threads: { [root]: { notification_count: 1, highlight_count: 0 } } });

    async function receipt(eventId: string, body: Record<string, unknown> = {}) {
      const r = await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
  });
});
