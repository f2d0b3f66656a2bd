/**
 * Form building blocks: labelled fields that show the API's error message next to the field it
 * concerns (`aria-invalid`, `aria-describedby`), a form-level error, a two-step delete button,
 * and `useAction`, which runs a request and files its failure under a field or the form.
 */
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { messageOf } from '../api/client.js';

/** A failure that belongs to one field of a form. */
export class FieldError extends Error {
  readonly field: string;
  constructor(field: string, cause: unknown) {
    super(messageOf(cause));
    this.field = field;
  }
}

/** Awaits `promise`; a failure is reported at `field`. */
export async function at<T>(field: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    throw new FieldError(field, err);
  }
}

export type Errors = Record<string, string>;

export function useAction() {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = useCallback(async (fn: () => Promise<void>): Promise<boolean> => {
    setBusy(true);
    setErrors({});
    try {
      await fn();
      return true;
    } catch (err) {
      if (mounted.current)
        setErrors(err instanceof FieldError ? { [err.field]: err.message } : { form: messageOf(err) });
      return false;
    } finally {
      if (mounted.current) setBusy(false);
    }
  }, []);
  return { busy, errors, run, setErrors };
}

function ErrorText({ id, error }: { id: string; error?: string }) {
  return error ? (
    <p id={`${id}-error`} className="field-error" role="alert">
      {error}
    </p>
  ) : null;
}

const described = (id: string, error?: string) =>
  error ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-error` } : {};

interface FieldProps {
  id: string;
  label: string;
  error?: string;
  hint?: string;
}

export function TextField({
  id,
  label,
  error,
  hint,
  value,
  onChange,
  placeholder,
  required,
  autoComplete,
  type = 'text',
}: FieldProps & {
  value: string;
  onChange(value: string): void;
  placeholder?: string;
  required?: boolean;
  autoComplete?: string;
  type?: string;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type={type}
        value={value}
        placeholder={placeholder}
        required={required}
        autoComplete={autoComplete ?? 'off'}
        onChange={(e) => onChange(e.target.value)}
        {...described(id, error)}
      />
      {hint ? <span className="hint">{hint}</span> : null}
      <ErrorText id={id} error={error} />
    </div>
  );
}

export interface Option {
  value: string;
  label: string;
}

export function SelectField({
  id,
  label,
  error,
  value,
  onChange,
  options,
}: FieldProps & { value: string; onChange(value: string): void; options: Option[] }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} {...described(id, error)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <ErrorText id={id} error={error} />
    </div>
  );
}

export function CheckField({
  id,
  label,
  checked,
  onChange,
}: {
  id: string;
  label: string;
  checked: boolean;
  onChange(checked: boolean): void;
}) {
  return (
    <div className="field check">
      <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}

/** A group of checkboxes (e.g. the networks of an instance), in the order they were ticked. */
export function MultiCheckField({
  id,
  legend,
  options,
  value,
  onChange,
  error,
}: {
  id: string;
  legend: string;
  options: Option[];
  value: string[];
  onChange(value: string[]): void;
  error?: string;
}) {
  return (
    <fieldset className="field multi" id={id} {...described(id, error)}>
      <legend>{legend}</legend>
      {options.length === 0 ? <span className="hint">none available</span> : null}
      {options.map((o) => (
        <label key={o.value} className="check">
          <input
            type="checkbox"
            checked={value.includes(o.value)}
            onChange={(e) =>
              onChange(e.target.checked ? [...value, o.value] : value.filter((v) => v !== o.value))
            }
          />
          {o.label}
        </label>
      ))}
      <ErrorText id={id} error={error} />
    </fieldset>
  );
}

export function FormError({ id, error }: { id: string; error?: string }) {
  return <ErrorText id={id} error={error} />;
}

/** A form with a heading, fields, a submit button and the form-level error. */
export function Form({
  id,
  title,
  submit,
  busy,
  error,
  onSubmit,
  children,
}: {
  id: string;
  title: string;
  submit: string;
  busy: boolean;
  error?: string;
  onSubmit(): void;
  children: ReactNode;
}) {
  return (
    <form
      className="form"
      aria-labelledby={`${id}-title`}
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      <h3 id={`${id}-title`}>{title}</h3>
      <div className="form-fields">{children}</div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Working…' : submit}
        </button>
        <FormError id={`${id}-form`} error={error} />
      </div>
    </form>
  );
}

/** Delete in two steps: the first press asks, the second does it. */
export function DeleteButton({ what, onDelete, busy }: { what: string; onDelete(): void; busy?: boolean }) {
  const [asking, setAsking] = useState(false);
  return asking ? (
    <span className="confirm">
      <button type="button" className="danger" disabled={busy} onClick={onDelete}>
        Confirm delete
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  ) : (
    <button type="button" className="danger" aria-label={`Delete ${what}`} onClick={() => setAsking(true)}>
      Delete
    </button>
  );
}
