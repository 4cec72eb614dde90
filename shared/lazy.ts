// A client made on first use and shared after: `create` runs once, and again only when it
// failed (a kubeconfig unreadable at that moment), so one failure is not kept until a
// restart. Callers that arrive while it runs share the same attempt.
export function lazyRetrying<T>(create: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined
  return () =>
    (pending ??= create().catch((err: unknown) => {
      pending = undefined
      throw err
    }))
}
