/** Something in the lab failed: a command, a namespace, a daemon that never answered. */
export class LabError extends Error {
  override name = "LabError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A condition polled by `waitFor` did not hold before its deadline. */
export class LabTimeoutError extends LabError {
  override name = "LabTimeoutError";
}
