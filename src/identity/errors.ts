/** Keystone's error bodies: `{"error": {"code", "message", "title"}}`. */
export class KeystoneError extends Error {
  readonly status: number;
  readonly title: string;

  constructor(status: number, title: string, message: string) {
    super(message);
    this.status = status;
    this.title = title;
  }

  toBody() {
    return { error: { code: this.status, message: this.message, title: this.title } };
  }
}

export const Unauthorized = (message = 'The request you have made requires authentication.') =>
  new KeystoneError(401, 'Unauthorized', message);
export const Forbidden = (message = 'You are not authorized to perform the requested action.') =>
  new KeystoneError(403, 'Forbidden', message);
export const KeystoneNotFound = (kind: string, id: string) =>
  new KeystoneError(404, 'Not Found', `Could not find ${kind}: ${id}.`);
export const KeystoneBadRequest = (message: string) => new KeystoneError(400, 'Bad Request', message);
export const KeystoneConflict = (kind: string, field: string, value: string) =>
  new KeystoneError(
    409,
    'Conflict',
    `Conflict occurred attempting to store ${kind} - Duplicate entry found with ${field} ${value}.`,
  );
export const ForbiddenAction = (action: string) =>
  Forbidden(`You are not authorized to perform the requested action: ${action}.`);
export const UserDisabled = (userId: string) => Unauthorized(`The account is disabled for user: ${userId}.`);
export const AccountLocked = (userId: string) => Unauthorized(`The account is locked for user: ${userId}.`);
/** Not Keystone's (it leaves throttling to the proxy in front of it): one address failed too often. */
export const TooManyFailedLogins = (retryAfterSeconds: number) =>
  Object.assign(
    new KeystoneError(
      429,
      'Too Many Requests',
      'Too many failed authentication attempts from this address; try again later.',
    ),
    { retryAfterSeconds },
  );
