// Latency buckets in seconds: acceptance is expected in single milliseconds, the
// 500 ms promise sits between 0.25 and 1.
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
