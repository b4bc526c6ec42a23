// A net/http server for the agent's end-to-end tests, built with the distribution's Go (standard
// library only). Usage: go_server WWW_DIR [NEXT_PORT ...]. Prints "port N" once it listens on
// 127.0.0.1. With NEXT_PORTs, GET /chain/REST is a hop of tests/e2e/context.test.mjs: it calls
// GET /seq/REST on every 127.0.0.1:NEXT_PORT one after the other from the handler's own goroutine,
// then GET /par/REST on every one at once, each from a goroutine it starts, and answers JSON as
// tests/e2e/apps/context_hop.py does: {"port", "path", "traceparent" (as received), "calls":
// [{"port", "status", "answer"}]} (the sequential calls first).
//
// With HODOS_TEST_TLS_CERT and HODOS_TEST_TLS_KEY (PEM files) it serves HTTPS, and a NEXT of the
// form https://HOST:PORT is called over TLS, trusting that certificate: HTTP/1.1 both ways, or with
// HODOS_TEST_H2 set, HTTP/2 where the other end offers it (serving too).
package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// The client of the calls: HTTP/1.1 over TLS, trusting the test certificate, when one is given.
var client = http.DefaultClient

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
		nexts := os.Args[2:]
		// The calls are written by the client's connection goroutines, on whatever threads run them.
		mux.HandleFunc("/chain/", func(w http.ResponseWriter, r *http.Request) {
			rest := strings.TrimPrefix(r.URL.Path, "/chain")
			calls := make([]call, 2*len(nexts))
			for i, next := range nexts {
				calls[i] = get(next, "/seq"+rest)
			}
			var wg sync.WaitGroup
			for i, next := range nexts {
				wg.Add(1)
				go func(i int, next string) {
					defer wg.Done()
					calls[len(nexts)+i] = get(next, "/par"+rest)
				}(i, next)
			}
			wg.Wait()
			status := http.StatusOK
			for _, c := range calls {
				if c.Status > status {
					status = c.Status
				}
			}
			port := r.Context().Value(http.LocalAddrContextKey).(net.Addr).(*net.TCPAddr).Port
			body, _ := json.Marshal(map[string]any{"port": port, "path": r.URL.Path,
				"traceparent": header(r, "traceparent"), "calls": calls})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write(body)
		})
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cert, key := os.Getenv("HODOS_TEST_TLS_CERT"), os.Getenv("HODOS_TEST_TLS_KEY")
	if cert != "" {
		pem, err := os.ReadFile(cert)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}
		if os.Getenv("HODOS_TEST_H2") != "" {
			transport.ForceAttemptHTTP2 = true // a custom TLS config turns it off otherwise
		} else {
			// HTTP/1.1: no TLSNextProto, so h2 is not offered.
			transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		client = &http.Client{Transport: transport}
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	if cert != "" {
		srv := &http.Server{Handler: mux}
		if os.Getenv("HODOS_TEST_H2") == "" {
			srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		}
		fmt.Fprintln(os.Stderr, srv.ServeTLS(ln, cert, key))
	} else {
		fmt.Fprintln(os.Stderr, http.Serve(ln, mux))
	}
	os.Exit(1)
}

type call struct {
	Port   int             `json:"port"`
	Status int             `json:"status"`
	Answer json.RawMessage `json:"answer"`
}

// GET 127.0.0.1:next/path, or next/path when next is an https:// base; a failure is a 502 with
// the error as its answer.
func get(next, path string) call {
	base := "http://127.0.0.1:" + next
	if strings.HasPrefix(next, "https://") {
		base = next
	}
	u, _ := url.Parse(base)
	n, _ := strconv.Atoi(u.Port())
	resp, err := client.Get(base + path)
	if err != nil {
		msg, _ := json.Marshal(err.Error())
		return call{n, http.StatusBadGateway, msg}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !json.Valid(body) {
		body, _ = json.Marshal(string(body))
	}
	return call{n, resp.StatusCode, body}
}

// The header's value, or nil (JSON null) when the request had none.
func header(r *http.Request, name string) any {
	if v := r.Header.Get(name); v != "" {
		return v
	}
	return nil
}
