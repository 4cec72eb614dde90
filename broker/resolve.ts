// Destination → URL, as Knative's URI resolver does it (duckv1.Destination): an absolute `uri` is used
// as is; a `ref` resolves to the addressable's URL, and a `uri` next to it is resolved relative to that.
import type { Destination } from './delivery.js'

/** `addresses` maps a ref name (e.g. the Knative Service `kube-reflex-persist`) to its local base URL. */
export function destinationResolver(addresses: ReadonlyMap<string, string>): (d: Destination) => string | undefined {
  return (d) => {
    if (d.ref === undefined) return d.uri
    const base = addresses.get(d.ref.name)
    if (base === undefined) return undefined
    if (d.uri === undefined) return base
    if (/^[a-z][a-z0-9+.-]*:/i.test(d.uri)) return d.uri
    // Relative to the addressable's URL, keeping its path (serve all mounts a function under /<name>).
    return `${base.replace(/\/+$/, '')}/${d.uri.replace(/^\/+/, '')}`
  }
}
