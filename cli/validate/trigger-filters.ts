// Trigger filter checks for `kube-reflex validate`: the same engine the local broker runs, so a filter
// that validates here is one the broker (and Knative's webhook) accepts, CESQL grammar included.
export { validateTriggerFilters, lintTriggerFilters } from '../../broker/filters.js'
