// Pieces of Collector-shaped configs shared by the end-to-end tests (see docs/configuration.md).

export function otlpReceiver({ grpcPort, httpPort, http = {} }) {
  return {
    protocols: {
      grpc: grpcPort ? { endpoint: `127.0.0.1:${grpcPort}` } : undefined,
      http: httpPort ? { endpoint: `127.0.0.1:${httpPort}`, ...http } : undefined,
    },
  };
}

// Short intervals keep the suite fast; a long max_elapsed_time so nothing is dropped while a
// destination is down for a few seconds.
export function fastRetry() {
  return { enabled: true, initial_interval: '100ms', max_interval: '500ms', max_elapsed_time: '120s' };
}

export function otlpExporter(grpcPort, extra = {}) {
  return { endpoint: `127.0.0.1:${grpcPort}`, tls: { insecure: true }, retry_on_failure: fastRetry(), ...extra };
}

export function otlphttpExporter(httpPort, extra = {}) {
  return { endpoint: `http://127.0.0.1:${httpPort}`, retry_on_failure: fastRetry(), ...extra };
}

export function telemetry(metricsPort) {
  return { metrics: { address: `127.0.0.1:${metricsPort}` } };
}
