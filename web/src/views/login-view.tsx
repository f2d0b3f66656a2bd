/** The login form: user name, password and (optionally) the project to work in. */
import { useState } from 'react';
import { login, type Session } from '../api/session.js';
import { Form, TextField, useAction } from '../ui/form.js';

export function LoginView({ onLogin, notice }: { onLogin(session: Session): void; notice?: string | null }) {
  const { busy, errors, run } = useAction();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [project, setProject] = useState('');
  return (
    <main className="login">
      <h1>Neutrino</h1>
      <p className="muted">OpenStack networking for Linux hosts</p>
      {notice ? (
        <p className="note" role="status">
          {notice}
        </p>
      ) : null}
      <Form
        id="login"
        title="Log in"
        submit="Log in"
        busy={busy}
        error={errors.form}
        onSubmit={() => run(async () => onLogin(await login(username, password, project)))}
      >
        <TextField
          id="login-user"
          label="User"
          value={username}
          onChange={setUsername}
          autoComplete="username"
          required
        />
        <TextField
          id="login-password"
          label="Password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          required
        />
        <TextField
          id="login-project"
          label="Project"
          value={project}
          onChange={setProject}
          placeholder="your default project"
          hint="domain Default"
        />
      </Form>
    </main>
  );
}
