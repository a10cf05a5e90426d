// Go net/http peer for `make bench`: /hello, /sleep?ms=N (time.Sleep), /gather?ms=A,B,..
// (one goroutine per wait). The harness runs it with GOMAXPROCS=1 on one core; it prints
// "listening on HOST:PORT (pid N)" to stderr like iobound. No logging.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func parseMs(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 30000 {
		return 0, fmt.Errorf("ms must be 0..30000")
	}
	return n, nil
}

func main() {
	addr := "127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("hello\n"))
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, err := parseMs(r.URL.Query().Get("ms"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"slept_ms\":%d}\n", ms)
	})
	mux.HandleFunc("/gather", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Query().Get("ms"), ",")
		waits := make([]int, len(parts))
		for i, p := range parts {
			ms, err := parseMs(p)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			waits[i] = ms
		}
		var wg sync.WaitGroup
		for _, ms := range waits {
			wg.Add(1)
			go func(ms int) {
				defer wg.Done()
				time.Sleep(time.Duration(ms) * time.Millisecond)
			}(ms)
		}
		wg.Wait()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"tasks\":%d}\n", len(waits))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "goserver: listening on %s (pid %d)\n", ln.Addr(), os.Getpid())
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}
}
