// Backend of the overhead benchmark's Go service (bench/overhead/run.mjs, suite go): plain
// net/http, answers GET /items/<id> with a small JSON document, as ../../node/backend.js does.
// Built twice: as is (configurations none and hodos) and with -tags otel (sdk; see ../tracing).
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"hodosbench/service"
)

type item struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Price int    `json:"price"`
	Stock int    `json:"stock"`
}

func main() {
	service.Serve("backend", func() http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := strconv.Atoi(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
			body, _ := json.Marshal(item{ID: id, Name: fmt.Sprintf("item %d", id), Price: (id * 37) % 1000, Stock: id % 7})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
	})
}
