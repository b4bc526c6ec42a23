//go:build otel

// The instrumented build (configuration sdk, `go build -tags otel`): the OpenTelemetry Go SDK
// from Debian's golang-opentelemetry-otel-dev (1.1.0). Debian ships neither the contrib
// instrumentation (otelhttp) nor an OTLP exporter, so this file does what otelhttp's Handler and
// Transport of that era do (the same span kinds, semconv v1.7.0 attributes, status mapping and
// W3C propagation), and otlp.go exports over OTLP/HTTP protobuf as otlptracehttp would.
package tracing

import (
	"context"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.7.0"
	"go.opentelemetry.io/otel/trace"
)

const Enabled = true

const libraryName = "hodos-bench/tracing"

var (
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
)

// Setup reads OTEL_SERVICE_NAME's value from service and OTEL_EXPORTER_OTLP_ENDPOINT (the base
// URL; spans go to its /v1/traces) and installs a tracer provider with the SDK's default batch
// span processor, sampler (parent-based, always on) and W3C trace-context + baggage propagation.
func Setup(service string) (shutdown func()) {
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	if endpoint == "" {
		log.Fatal("tracing: OTEL_EXPORTER_OTLP_ENDPOINT is not set")
	}
	// The resources the Node SDK detects in the same benchmark: env, host, os, process.
	res, err := resource.New(context.Background(),
		resource.WithAttributes(semconv.ServiceNameKey.String(service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithOS(), resource.WithProcess())
	if err != nil {
		log.Printf("tracing: resource: %v", err)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(newExporter(endpoint+"/v1/traces")),
		sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	otel.SetTextMapPropagator(propagator)
	tracer = provider.Tracer(libraryName)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := provider.Shutdown(ctx); err != nil {
			log.Printf("tracing: shutdown: %v", err)
		}
	}
}

// Handler: one SERVER span per request, continuing the caller's trace.
func Handler(operation string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, operation, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.NetAttributesFromHTTPRequest("tcp", r)...),
			trace.WithAttributes(semconv.EndUserAttributesFromHTTPRequest(r)...),
			trace.WithAttributes(semconv.HTTPServerAttributesFromHTTPRequest(operation, "", r)...))
		defer span.End()
		rw := &recorder{ResponseWriter: w}
		body := &countingBody{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		h.ServeHTTP(rw, r.WithContext(ctx))
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		attrs := []attribute.KeyValue{attribute.Int64("http.read_bytes", body.n), attribute.Int64("http.wrote_bytes", rw.n)}
		attrs = append(attrs, semconv.HTTPAttributesFromHTTPStatusCode(rw.status)...)
		span.SetAttributes(attrs...)
		span.SetStatus(semconv.SpanStatusFromHTTPStatusCode(rw.status))
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	n      int64
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.n += int64(n)
	return n, err
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// Transport: one CLIENT span per call, its context injected as traceparent; the span ends when
// the answer's body has been read or closed.
func Transport(rt http.RoundTripper) http.RoundTripper { return &transport{rt} }

type transport struct{ rt http.RoundTripper }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := tracer.Start(r.Context(), "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindClient))
	r = r.WithContext(ctx)
	span.SetAttributes(semconv.HTTPClientAttributesFromHTTPRequest(r)...)
	propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	res, err := t.rt.RoundTrip(r)
	if err != nil {
		span.RecordError(err)
		span.End()
		return res, err
	}
	span.SetAttributes(semconv.HTTPAttributesFromHTTPStatusCode(res.StatusCode)...)
	span.SetStatus(semconv.SpanStatusFromHTTPStatusCode(res.StatusCode))
	res.Body = &endingBody{ReadCloser: res.Body, span: span}
	return res, nil
}

type endingBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *endingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(func() { b.span.End() })
	} else if err != nil {
		b.span.RecordError(err)
		b.once.Do(func() { b.span.End() })
	}
	return n, err
}

func (b *endingBody) Close() error {
	b.once.Do(func() { b.span.End() })
	return b.ReadCloser.Close()
}
