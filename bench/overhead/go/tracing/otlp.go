//go:build otel

// An OTLP/HTTP protobuf span exporter for the SDK (Debian's otel 1.1.0 has no OTLP exporter and
// no generated OTLP protobuf types). It sends what otlptracehttp sends: one
// ExportTraceServiceRequest per batch, Content-Type application/x-protobuf, no compression. The
// encoding is written by hand straight into a byte slice, which costs less than generated types
// and proto.Marshal: if anything it understates the SDK's CPU.
package tracing

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

type exporter struct {
	url    string
	client *http.Client
}

func newExporter(url string) *exporter {
	// Its own keep-alive connection pool, apart from the service's calls.
	return &exporter{url: url, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}}
}

func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(encodeRequest(spans)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	res, err := e.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("otlp export: %s", res.Status)
	}
	return nil
}

func (e *exporter) Shutdown(ctx context.Context) error {
	e.client.CloseIdleConnections()
	return nil
}

// ---- protobuf wire format ----

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func tag(b []byte, field, wire int) []byte { return binary.AppendUvarint(b, uint64(field<<3|wire)) }

func putBytes(b []byte, field int, v []byte) []byte {
	b = tag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func putString(b []byte, field int, v string) []byte {
	if v == "" {
		return b
	}
	b = tag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func putVarint(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(tag(b, field, wireVarint), v)
}

func putFixed64(b []byte, field int, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(tag(b, field, wireFixed64), v)
}

// putMessage appends field as a nested message written by enc. The body goes first into the
// scratch space after b, then moves up behind its length prefix.
func putMessage(b []byte, field int, enc func([]byte) []byte) []byte {
	b = tag(b, field, wireBytes)
	start := len(b)
	b = enc(b)
	body := len(b) - start
	var prefix [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(prefix[:], uint64(body))
	b = append(b, prefix[:n]...)
	copy(b[start+n:], b[start:start+body])
	copy(b[start:], prefix[:n])
	return b
}

func putAnyValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.BOOL:
		b = tag(b, 2, wireVarint)
		if v.AsBool() {
			return append(b, 1)
		}
		return append(b, 0)
	case attribute.INT64:
		return binary.AppendUvarint(tag(b, 3, wireVarint), uint64(v.AsInt64()))
	case attribute.FLOAT64:
		return putFixed64(b, 4, math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		b = tag(b, 1, wireBytes)
		s := v.AsString()
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE, attribute.STRINGSLICE:
		return putMessage(b, 5, func(b []byte) []byte {
			for _, e := range sliceValues(v) {
				b = putMessage(b, 1, func(b []byte) []byte { return putAnyValue(b, e) })
			}
			return b
		})
	}
	return b
}

func sliceValues(v attribute.Value) []attribute.Value {
	switch v.Type() {
	case attribute.BOOLSLICE:
		return values(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return values(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return values(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return values(v.AsStringSlice(), attribute.StringValue)
	}
	return nil
}

func values[T any](xs []T, value func(T) attribute.Value) []attribute.Value {
	out := make([]attribute.Value, len(xs))
	for i, x := range xs {
		out[i] = value(x)
	}
	return out
}

func putAttributes(b []byte, field int, attrs []attribute.KeyValue) []byte {
	for _, kv := range attrs {
		b = putMessage(b, field, func(b []byte) []byte {
			b = putString(b, 1, string(kv.Key))
			return putMessage(b, 2, func(b []byte) []byte { return putAnyValue(b, kv.Value) })
		})
	}
	return b
}

func putTimestamp(b []byte, field int, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return putFixed64(b, field, uint64(t.UnixNano()))
}

func putSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = putBytes(b, 1, tid[:])
	b = putBytes(b, 2, sid[:])
	b = putString(b, 3, sc.TraceState().String())
	if p := s.Parent(); p.SpanID().IsValid() {
		psid := p.SpanID()
		b = putBytes(b, 4, psid[:])
	}
	b = putString(b, 5, s.Name())
	// trace.SpanKind has OTLP's numbering.
	b = putVarint(b, 6, uint64(s.SpanKind()))
	b = putTimestamp(b, 7, s.StartTime())
	b = putTimestamp(b, 8, s.EndTime())
	b = putAttributes(b, 9, s.Attributes())
	b = putVarint(b, 10, uint64(s.DroppedAttributes()))
	for _, ev := range s.Events() {
		b = putMessage(b, 11, func(b []byte) []byte {
			b = putTimestamp(b, 1, ev.Time)
			b = putString(b, 2, ev.Name)
			b = putAttributes(b, 3, ev.Attributes)
			return putVarint(b, 4, uint64(ev.DroppedAttributeCount))
		})
	}
	b = putVarint(b, 12, uint64(s.DroppedEvents()))
	for _, l := range s.Links() {
		b = putMessage(b, 13, func(b []byte) []byte {
			ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
			b = putBytes(b, 1, ltid[:])
			b = putBytes(b, 2, lsid[:])
			b = putString(b, 3, l.SpanContext.TraceState().String())
			return putAttributes(b, 4, l.Attributes)
		})
	}
	b = putVarint(b, 14, uint64(s.DroppedLinks()))
	if st := s.Status(); st.Code != codes.Unset {
		b = putMessage(b, 15, func(b []byte) []byte {
			b = putString(b, 2, st.Description)
			code := uint64(2) // STATUS_CODE_ERROR
			if st.Code == codes.Ok {
				code = 1
			}
			return putVarint(b, 3, code)
		})
	}
	return b
}

// encodeRequest groups the batch by resource and instrumentation library, as the real exporter
// does (in this benchmark every batch has one of each).
func encodeRequest(spans []sdktrace.ReadOnlySpan) []byte {
	type scopeKey struct {
		res *resource.Resource
		lib instrumentation.Library
	}
	var resources []*resource.Resource
	scopes := map[*resource.Resource][]instrumentation.Library{}
	bySpan := map[scopeKey][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		k := scopeKey{s.Resource(), s.InstrumentationLibrary()}
		if _, seen := scopes[k.res]; !seen {
			resources = append(resources, k.res)
			scopes[k.res] = nil
		}
		if _, seen := bySpan[k]; !seen {
			scopes[k.res] = append(scopes[k.res], k.lib)
		}
		bySpan[k] = append(bySpan[k], s)
	}
	b := make([]byte, 0, 512*len(spans))
	for _, res := range resources {
		b = putMessage(b, 1, func(b []byte) []byte { // ResourceSpans
			if res != nil {
				b = putMessage(b, 1, func(b []byte) []byte { return putAttributes(b, 1, res.Attributes()) })
			}
			for _, lib := range scopes[res] {
				b = putMessage(b, 2, func(b []byte) []byte { // ScopeSpans
					b = putMessage(b, 1, func(b []byte) []byte {
						return putString(putString(b, 1, lib.Name), 2, lib.Version)
					})
					for _, s := range bySpan[scopeKey{res, lib}] {
						b = putMessage(b, 2, func(b []byte) []byte { return putSpan(b, s) })
					}
					return putString(b, 3, lib.SchemaURL)
				})
			}
			if res != nil {
				b = putString(b, 3, res.SchemaURL())
			}
			return b
		})
	}
	return b
}
