// A net/http server for the agent's end-to-end tests, built with the distribution's Go (standard
// library only). Usage: go_server WWW_DIR [NEXT_PORT]. Prints "port N" once it listens on
// 127.0.0.1. With NEXT_PORT, GET /chain/... calls 127.0.0.1:NEXT_PORT with the same path (a hop
// of tests/e2e/context.test.mjs) and answers JSON {"traceparent": as received, "status": the
// call's}.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	www := os.Args[1]
	mux := http.NewServeMux()
	mux.HandleFunc("/items/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"id\":%q}\n", strings.TrimPrefix(r.URL.Path, "/items/"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "failed on purpose", http.StatusInternalServerError)
	})
	// No Content-Length and a flush per part: the body goes out chunked.
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "part %d of a chunked body\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
	})
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(www))))
	if len(os.Args) > 2 {
		next := os.Args[2]
		// The call is written by the client's connection goroutine, on whatever thread runs it.
		mux.HandleFunc("/chain/", func(w http.ResponseWriter, r *http.Request) {
			resp, err := http.Get("http://127.0.0.1:" + next + r.URL.Path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, "{\"traceparent\":%q,\"status\":%d}\n", r.Header.Get("traceparent"), resp.StatusCode)
		})
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	fmt.Fprintln(os.Stderr, http.Serve(ln, mux))
	os.Exit(1)
}
