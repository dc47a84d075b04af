// What of a keys/query answer the cache of remote keys takes for a user: only keys filed under
// the names they carry (services/federation/remote-keys.ts userKeysFromAnswer).
import { describe, expect, it } from 'vitest';
import { userKeysFromAnswer } from '../../../src/services/federation/remote-keys.js';

const u = '@bob:b.example';
const device = (userId: string, deviceId: string) => ({ user_id: userId, device_id: deviceId, algorithms: [], keys: { [`ed25519:${deviceId}`]: 'x' }, signatures: {} });
const csk = (userId: string, usage: string) => ({ user_id: userId, usage: [usage], keys: { 'ed25519:k': 'k' } });

describe('userKeysFromAnswer', () => {
  it('keeps devices and cross-signing keys filed under their own names', () => {
    const keys = userKeysFromAnswer({
      device_keys: { [u]: { D1: device(u, 'D1'), D2: device(u, 'OTHER'), D3: device('@eve:b.example', 'D3'), D4: 'nope', D5: { user_id: u, device_id: 'D5' } } },
      master_keys: { [u]: csk(u, 'master') },
      self_signing_keys: { [u]: csk(u, 'master') },
    }, u);
    expect(Object.keys(keys!.devices)).toEqual(['D1']);
    expect(keys!.masterKey).toEqual(csk(u, 'master'));
    expect(keys!.selfSigningKey).toBeUndefined();
  });

  it('takes nothing for a user the answer does not name, or names with keys of another user', () => {
    expect(userKeysFromAnswer({ device_keys: { '@eve:b.example': { D1: device('@eve:b.example', 'D1') } } }, u)).toBeUndefined();
    expect(userKeysFromAnswer({ master_keys: { [u]: csk('@eve:b.example', 'master') } }, u)).toBeUndefined();
    expect(userKeysFromAnswer({ device_keys: [] }, u)).toBeUndefined();
    expect(userKeysFromAnswer({ device_keys: { [u]: {} } }, u)).toEqual({ devices: {} });
  });
});
