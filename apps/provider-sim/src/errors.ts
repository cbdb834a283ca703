/** Every error the simulator answers has this body, like the public API's minus `details`. */
export interface SimError {
  error: { code: string; message: string };
}

export function simError(code: string, message: string): SimError {
  return { error: { code, message } };
}
