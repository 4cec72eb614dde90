// Reference: the cost of loading @kubernetes/client-node eagerly — the bare node:http server of
// bare-http.mjs, after `import('@kubernetes/client-node')`. Measured for start-up and RSS only.
await import('@kubernetes/client-node')
await import('./bare-http.mjs')
