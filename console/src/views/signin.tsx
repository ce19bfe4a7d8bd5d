// Sign in with a token (one the service minted, or an access token of the app's identity
// provider, pasted as is), or mint one with the operator's admin key (the key lives in this
// component's state only and is dropped once the token is minted).
import { useState } from 'preact/hooks';
import { mintWithAdminKey, signIn, type Session } from '../session.ts';
import { ErrorLine, Field, errorText } from '../ui.tsx';

export function SignIn(props: { onSession: (s: Session) => void; initialError: string | null }) {
  const [mode, setMode] = useState<'token' | 'admin'>('token');
  const [token, setToken] = useState('');
  const [adminKey, setAdminKey] = useState('');
  const [userId, setUserId] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(props.initialError);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const t = mode === 'token' ? token.trim() : await mintWithAdminKey(adminKey.trim(), userId.trim());
      setAdminKey('');
      props.onSession(await signIn(t));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <h1>Queue service console</h1>
      <p>
        Watch and drive queues, devices and parties live. Everything here goes through the client SDK (<code>@queue-service/client</code>), the way an app
        would.
      </p>
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h2 id="signin-title">Sign in</h2>
        <fieldset class="choice">
          <legend>With</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'token'} onChange={() => setMode('token')} /> a token (minted here, or from your identity
            provider)
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'admin'} onChange={() => setMode('admin')} /> the admin key (mint a token)
          </label>
        </fieldset>
        {mode === 'token' ? (
          <Field
            label="User token"
            hint="npm run cli -- token alice, or an access token from your app's identity provider (Auth0, Keycloak, ...) when the service trusts it"
          >
            <textarea name="token" rows={3} required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
          </Field>
        ) : (
          <>
            <Field label="Admin API key" hint="data/admin-key on the server; kept in this page's memory only">
              <input name="adminKey" type="password" required autocomplete="off" value={adminKey} onInput={(e) => setAdminKey(e.currentTarget.value)} />
            </Field>
            <Field label="User id">
              <input name="userId" required pattern="[A-Za-z0-9._:@\|\-]{1,128}" value={userId} onInput={(e) => setUserId(e.currentTarget.value)} />
            </Field>
          </>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <ErrorLine error={error} />
      </form>
    </main>
  );
}
