// Package service is what the overhead benchmark's two Go services share: tracing (or not, by
// build tag, see ../tracing), listening, and stopping.
package service

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"hodosbench/tracing"
)

// Serve serves h as service name on 127.0.0.1:$PORT (0 or unset: any port), says "listening N"
// for run.mjs, and on SIGTERM stops serving, then flushes the spans (sdk build) before returning.
// setup runs after tracing is set up, so it can wrap clients with tracing.Transport.
func Serve(name string, setup func() http.Handler) {
	flush := tracing.Setup(name)
	h := tracing.Handler(name, setup())
	port := os.Getenv("PORT")
	if port == "" {
		port = "0"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		log.Fatal(err)
	}
	server := &http.Server{Handler: h, IdleTimeout: 120 * time.Second}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	stopped := make(chan struct{})
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		server.Shutdown(ctx)
		close(stopped)
	}()
	if err := server.Serve(ln); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-stopped
	flush()
}
