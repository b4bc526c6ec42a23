//go:build !otel

// Package tracing is the only place where the overhead benchmark's Go services differ between
// configurations. This file is the uninstrumented build (configurations none and hodos): every
// function hands back what it was given, so the binary holds no tracing code at all.
package tracing

import "net/http"

// Enabled tells the service whether this build carries the OpenTelemetry SDK.
const Enabled = false

// Setup starts tracing for service and returns the function that flushes and stops it.
func Setup(service string) (shutdown func()) { return func() {} }

// Handler wraps a server's handler; operation names its spans.
func Handler(operation string, h http.Handler) http.Handler { return h }

// Transport wraps a client's transport.
func Transport(rt http.RoundTripper) http.RoundTripper { return rt }
