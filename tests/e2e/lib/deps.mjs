// The npm packages of tests/e2e/node (real OpenTelemetry clients), loaded from that folder so
// that the test files beside it can import them without a node_modules of their own.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const REPO_ROOT = path.resolve(E2E_DIR, '..', '..');

const require = createRequire(path.join(E2E_DIR, 'node', 'package.json'));

function load(name) {
  try {
    return require(name);
  } catch (e) {
    throw new Error(`cannot load ${name} (${e.code ?? e.message}): run \`make setup\` ` +
                    `(npm ci in tests/e2e/node) first`);
  }
}

export const api = load('@opentelemetry/api');
export const core = load('@opentelemetry/core');
export const resources = load('@opentelemetry/resources');
export const sdkTraceBase = load('@opentelemetry/sdk-trace-base');
export const sdkTraceNode = load('@opentelemetry/sdk-trace-node');
export const transformer = load('@opentelemetry/otlp-transformer');
export const exporterGrpc = load('@opentelemetry/exporter-trace-otlp-grpc');
export const exporterProto = load('@opentelemetry/exporter-trace-otlp-proto');
export const exporterHttp = load('@opentelemetry/exporter-trace-otlp-http');
export const grpc = load('@grpc/grpc-js');
export const protobuf = load('protobufjs');
