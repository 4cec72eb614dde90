// auto-recover's error codes (the shared catalogue covers the host's) and the reason codes of its decisions.
import { ReflexError } from '../../shared/errors.js'

/** Why a recovery was planned, performed, skipped or failed: the `reason` in replies and metrics. */
export const REASONS = {
  // planned / performed
  ACTION_DRY_RUN: 'the change was sent with dryRun=All and accepted; nothing changed',
  ACTION_OFFLINE: 'no cluster configured: planned from the event alone',
  ACTION_APPLIED: 'the change was applied',
  // skipped
  DUPLICATE: 'this event was already handled',
  PROTECTED_NAMESPACE: 'the namespace is protected and never touched',
  NAMESPACE_DENIED: 'the namespace is denied by the policy',
  NAMESPACE_NOT_ALLOWED: 'the namespace is not in the policy allow list',
  ACTION_DISABLED: 'the policy does not enable this action',
  NOT_OPTED_IN: 'neither the workload nor its namespace opted in',
  OPTED_OUT: 'the workload or its namespace opted out (or set the opt-in mark to a value other than "true"/"false")',
  NO_WORKLOAD: 'the object is not run by a controller that can recreate it',
  UNSUPPORTED_WORKLOAD: 'the action does not apply to this kind of workload',
  TARGET_GONE: 'the object no longer exists',
  PROBLEM_GONE: 'the live state no longer shows the problem',
  COOLDOWN: 'the target was acted on recently',
  TARGET_BUDGET_EXHAUSTED: 'the attempt budget for this workload is spent: a human must look',
  GLOBAL_BUDGET_EXHAUSTED: 'the global action budget is spent: a human must look',
  PDB_BLOCKED: 'a PodDisruptionBudget does not allow the eviction now',
  NOT_NEWEST_REVISION: 'the failure is not on the newest revision: a rollback would not fix it',
  NO_HEALTHY_REVISION: 'there is no healthy previous revision to roll back to',
  // failed
  FORBIDDEN: 'the ServiceAccount is not allowed to do this (RBAC); see the message for the verb and resource',
  REJECTED: 'the API server rejected the change',
} as const
export type ReasonCode = keyof typeof REASONS

export const AUTO_RECOVER_ERRORS = {
  /** The policy file does not parse or does not validate (start-up). */
  POLICY_INVALID: 500,
} as const

export function autoRecoverError(code: keyof typeof AUTO_RECOVER_ERRORS, message: string, cause?: unknown): ReflexError {
  return new ReflexError(code, message, { status: AUTO_RECOVER_ERRORS[code], cause })
}
