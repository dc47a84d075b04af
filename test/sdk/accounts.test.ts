// Accounts through a real client: matrix-js-sdk (what Element uses) registers with the
// m.login.dummy UIA flow, logs in, manages its device, refreshes its token and logs out.
// The SDK is used only for HTTP calls: startClient() is never called, so nothing keeps running.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  InteractiveAuth,
  MatrixError,
  type AuthDict,
  type IAuthData,
  type LoginResponse,
  type MatrixClient,
  type RegisterResponse,
} from 'matrix-js-sdk';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import type { Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// The SDK logs every request; keep test output quiet.
const noop = () => undefined;
const quietLogger: SdkLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quietLogger };
(sdkGlobalLogger as unknown as { setLevel?: (level: string) => void }).setLevel?.('silent');

const PASSWORD = 'correct horse battery staple';

function sdkClient(baseUrl: string, auth: { accessToken?: string; userId?: string; deviceId?: string } = {}): MatrixClient {
  return createClient({ baseUrl, logger: quietLogger, ...auth });
}

/** The MatrixError a promise rejects with (fails the test if it resolves or throws something else). */
async function matrixError(p: Promise<unknown>): Promise<MatrixError> {
  const err = await p.then(() => null, (e: unknown) => e);
  if (!(err instanceof MatrixError)) throw new Error(`expected a MatrixError, got ${err === null ? 'success' : String(err)}`);
  return err;
}

describe.each(ENGINES)('matrix-js-sdk accounts (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(engine);
  });
  afterAll(() => server?.close());

  const userFor = (localpart: string) => `@${localpart}:${server.config.server_name}`;

  /** Registers the way Element does: InteractiveAuth drives the UIA flow and submits m.login.dummy itself. */
  async function register(client: MatrixClient, username: string): Promise<RegisterResponse> {
    const sent: (AuthDict | null)[] = [];
    const stagesShownToUser: string[] = [];
    const auth = new InteractiveAuth<RegisterResponse>({
      matrixClient: client,
      doRequest: (authDict) => {
        sent.push(authDict);
        return client.registerRequest({
          username,
          password: PASSWORD,
          initial_device_display_name: 'SDK test',
          ...(authDict ? { auth: authDict } : {}),
        });
      },
      stateUpdated: (stage) => { stagesShownToUser.push(stage); },
      requestEmailToken: () => Promise.reject(new Error('no email stage expected')),
    });
    const res = await auth.attemptAuth();
    // First a bare request that draws the 401 challenge, then the dummy stage with the challenge's session.
    expect(sent).toEqual([null, { type: 'm.login.dummy', session: expect.any(String) }]);
    expect(stagesShownToUser).toEqual([]);
    return res;
  }

  it('answers an unauthenticated /register with the UIA challenge offering m.login.dummy', async () => {
    const client = sdkClient(server.baseUrl);
    const err = await matrixError(client.registerRequest({ username: 'challenged', password: PASSWORD }));
    expect(err.httpStatus).toBe(401);
    const data = err.data as IAuthData;
    expect(typeof data.session).toBe('string');
    expect(data.flows?.some((f) => f.stages.length === 1 && f.stages[0] === 'm.login.dummy')).toBe(true);

    // Completing the stage with the session from the challenge, as a hand-written client would.
    const res = await client.registerRequest({
      username: 'challenged', password: PASSWORD, auth: { type: 'm.login.dummy', session: data.session },
    });
    expect(res.user_id).toBe(userFor('challenged'));
    expect(typeof res.access_token).toBe('string');
  });

  it('registers, logs in, manages its device, and logs out', async () => {
    const anon = sdkClient(server.baseUrl);
    const reg = await register(anon, 'alice');
    expect(reg.user_id).toBe(userFor('alice'));
    expect(reg.device_id).toBeTruthy();
    expect(reg.access_token).toBeTruthy();

    // The registration's own token works.
    const regClient = sdkClient(server.baseUrl, { accessToken: reg.access_token, userId: reg.user_id, deviceId: reg.device_id });
    expect((await regClient.whoami()).user_id).toBe(userFor('alice'));

    // Password login makes a second device.
    const login: LoginResponse = await anon.loginRequest({
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: 'alice' },
      password: PASSWORD,
      initial_device_display_name: 'SDK login',
    });
    expect(login.user_id).toBe(userFor('alice'));
    expect(login.device_id).not.toBe(reg.device_id);
    const client = sdkClient(server.baseUrl, { accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id });

    const who = await client.whoami();
    expect(who.user_id).toBe(userFor('alice'));
    expect(who.device_id).toBe(login.device_id);

    const { devices } = await client.getDevices();
    expect(devices.map((d) => d.device_id).sort()).toEqual([reg.device_id, login.device_id].sort());
    expect(devices.find((d) => d.device_id === login.device_id)?.display_name).toBe('SDK login');

    await client.setDeviceDetails(login.device_id, { display_name: 'Renamed by the SDK' });
    const after = await client.getDevices();
    expect(after.devices.find((d) => d.device_id === login.device_id)?.display_name).toBe('Renamed by the SDK');

    await client.logout();
    const err = await matrixError(client.whoami());
    expect(err.httpStatus).toBe(401);
    expect(err.errcode).toBe('M_UNKNOWN_TOKEN');

    // Logging out one device leaves the other signed in.
    expect((await regClient.whoami()).device_id).toBe(reg.device_id);
    expect((await regClient.getDevices()).devices.map((d) => d.device_id)).toEqual([reg.device_id]);
  });

  it('logs in with the deprecated login() and loginWithPassword() helpers too', async () => {
    const anon = sdkClient(server.baseUrl);
    await register(anon, 'bob');

    const viaLogin = sdkClient(server.baseUrl);
    const r1 = await viaLogin.login('m.login.password', { identifier: { type: 'm.id.user', user: 'bob' }, password: PASSWORD });
    // These helpers store the token on the client they were called on.
    expect(viaLogin.getAccessToken()).toBe(r1.access_token);
    expect((await viaLogin.whoami()).device_id).toBe(r1.device_id);

    const viaPassword = sdkClient(server.baseUrl);
    const r2 = await viaPassword.loginWithPassword(userFor('bob'), PASSWORD);
    expect(r2.user_id).toBe(userFor('bob'));
    expect((await viaPassword.whoami()).device_id).toBe(r2.device_id);

    const wrong = await matrixError(sdkClient(server.baseUrl).loginWithPassword('bob', 'not the password'));
    expect(wrong.httpStatus).toBe(403);
    expect(wrong.errcode).toBe('M_FORBIDDEN');
  });

  it('refreshes its access token with refreshToken()', async () => {
    const anon = sdkClient(server.baseUrl);
    await register(anon, 'carol');
    const login = await anon.loginRequest({
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: 'carol' },
      password: PASSWORD,
      refresh_token: true,
    });
    expect(login.refresh_token).toBeTruthy();
    expect(login.expires_in_ms).toBeGreaterThan(0);

    const client = sdkClient(server.baseUrl, { accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id });
    const refreshed = await client.refreshToken(login.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    expect(refreshed.access_token).not.toBe(login.access_token);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(login.refresh_token);
    expect(refreshed.expires_in_ms).toBeGreaterThan(0);

    // The new token belongs to the same device.
    client.setAccessToken(refreshed.access_token);
    const who = await client.whoami();
    expect(who.user_id).toBe(userFor('carol'));
    expect(who.device_id).toBe(login.device_id);

    // The new refresh token works, and logging out ends the device's tokens.
    const again = await client.refreshToken(refreshed.refresh_token!);
    client.setAccessToken(again.access_token);
    expect((await client.whoami()).device_id).toBe(login.device_id);
    await client.logout();
    expect((await matrixError(client.whoami())).errcode).toBe('M_UNKNOWN_TOKEN');
    const afterLogout = await matrixError(client.refreshToken(again.refresh_token!));
    expect(afterLogout.errcode).toBe('M_UNKNOWN_TOKEN');
  });

  it('names the registered device after initial_device_display_name', async () => {
    const reg = await register(sdkClient(server.baseUrl), 'dave');
    const client = sdkClient(server.baseUrl, { accessToken: reg.access_token, userId: reg.user_id, deviceId: reg.device_id });
    const { devices } = await client.getDevices();
    expect(devices.find((d) => d.device_id === reg.device_id)?.display_name).toBe('SDK test');
    // The profile keeps its default displayname (the localpart), not the device's name.
    expect((await client.getProfileInfo(reg.user_id)).displayname).toBe('dave');
  });

  it('revokes the old refresh token once the new access token is used', async () => {
    await register(sdkClient(server.baseUrl), 'erin');
    const login = await sdkClient(server.baseUrl).loginRequest({
      type: 'm.login.password', identifier: { type: 'm.id.user', user: 'erin' }, password: PASSWORD, refresh_token: true,
    });
    const client = sdkClient(server.baseUrl, { accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id });
    const refreshed = await client.refreshToken(login.refresh_token!);
    client.setAccessToken(refreshed.access_token);
    await client.whoami();
    // spec: client-server-api "Refreshing access tokens": "The old refresh token remains valid until the
    // new access token or refresh token is used, at which point the old refresh token is revoked."
    const reused = await matrixError(client.refreshToken(login.refresh_token!));
    expect(reused.httpStatus).toBe(401);
    expect(reused.errcode).toBe('M_UNKNOWN_TOKEN');
    expect((await client.whoami()).device_id).toBe(login.device_id);
  });
});
