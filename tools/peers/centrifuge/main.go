// Command centrifuge-peer is a comparison peer for tools/loadgen: a small
// server on github.com/centrifugal/centrifuge with the library's defaults
// (memory broker, JSON or Protobuf over WebSocket at
// /connection/websocket). Each garden is a channel "g<N>"; clients may
// subscribe to any channel and publish to it, and a publication reaches
// every subscriber of the channel. There is no game logic and no
// persistence: it measures the transport and fan-out that a real-time
// library gives, against which our server's figures are read.
//
// Authentication is a stand-in: the user id is the `user` query parameter
// (no JWT), since the comparison is about connections and fan-out.
//
//	go run . -addr 127.0.0.1:8100
//
// It prints "listening addr=HOST:PORT" once it accepts connections, serves
// GET /healthz, and on SIGINT/SIGTERM shuts the node down and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8100", "listen address")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

func run(addr string) error {
	node, err := centrifuge.New(centrifuge.Config{})
	if err != nil {
		return err
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{}, nil
	})
	node.OnConnect(func(client *centrifuge.Client) {
		client.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
		client.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			cb(centrifuge.PublishReply{}, nil)
		})
	})
	if err := node.Run(); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", withUser(centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{})))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening addr=%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := node.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// withUser takes the user id from the `user` query parameter.
func withUser(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := &centrifuge.Credentials{UserID: r.URL.Query().Get("user")}
		h.ServeHTTP(w, r.WithContext(centrifuge.SetCredentials(r.Context(), cred)))
	})
}
