// Prometheus metrics: the host's event metrics (event-metrics.ts, which loads prom-client only when a
// registry is needed) and prom-client's classes for functions that define metrics of their own.
export * from './event-metrics.js'
export { Counter, Gauge, Histogram, Registry } from 'prom-client'
