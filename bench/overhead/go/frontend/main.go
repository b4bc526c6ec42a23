// Frontend of the overhead benchmark's Go service (bench/overhead/run.mjs, suite go): plain
// net/http. Each GET /api/items/<id> calls the backend's /items/<id> over keep-alive HTTP/1.1
// (net/http's Transport, from the handler's goroutine) and wraps its answer, as
// ../../node/frontend.js does. Built twice: as is and with -tags otel (see ../tracing).
package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"

	"hodosbench/service"
	"hodosbench/tracing"
)

func main() {
	backend := "http://127.0.0.1:" + os.Getenv("BACKEND_PORT") + "/items/"
	if os.Getenv("BACKEND_PORT") == "" {
		log.Fatal("frontend: BACKEND_PORT is not set")
	}
	service.Serve("frontend", func() http.Handler {
		// As many idle keep-alive connections as the Node frontend's Agent keeps sockets (128):
		// the default (2 per host) would open a connection for most calls under load.
		client := &http.Client{Transport: tracing.Transport(&http.Transport{
			MaxIdleConns: 128, MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128})}
		fail := func(w http.ResponseWriter, body string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, body)
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := strconv.Atoi(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, backend+strconv.Itoa(id), nil)
			res, err := client.Do(req)
			if err != nil {
				fail(w, `{"error":"backend unreachable"}`)
				return
			}
			data, err := io.ReadAll(res.Body)
			res.Body.Close()
			var item map[string]any
			if err != nil || res.StatusCode != http.StatusOK || json.Unmarshal(data, &item) != nil {
				fail(w, `{"error":"backend"}`)
				return
			}
			body, _ := json.Marshal(map[string]any{"item": item, "served_by": "frontend"})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
	})
}
