package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/app"
	srvconfig "github.com/cosmic-gardener/realtime/server/config"
)

// testSecret signs the tokens of the in-process servers.
const testSecret = "loadgen-test-secret-0123456789abcdef0123"

// testServer is a real server (server/app, as server/internal/wstest
// builds it; that package is internal to server/) on a fixed loopback
// address, so that it can be restarted in place for the reconnect
// scenario.
type testServer struct {
	t    *testing.T
	cfg  srvconfig.Config
	addr string

	mu  sync.Mutex
	app *app.App
	hs  *httptest.Server
}

func startTestServer(t *testing.T) *testServer {
	t.Helper()
	cfg, _ := srvconfig.Load(nil, func(string) (string, bool) { return "", false }, io.Discard)
	cfg.JWTSecret, cfg.DevMode = testSecret, true
	cfg.DBPath = filepath.Join(t.TempDir(), "cosmic.db")
	cfg.WebDir = t.TempDir()
	s := &testServer{t: t, cfg: cfg, addr: "127.0.0.1:0"}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start() error {
	a, err := app.New(context.Background(), s.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	var ln net.Listener
	for range 50 { // the old socket may linger a moment after a restart
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		_ = a.Shutdown(context.Background())
		return err
	}
	hs := httptest.NewUnstartedServer(a.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	s.mu.Lock()
	s.app, s.hs, s.addr = a, hs, ln.Addr().String()
	s.mu.Unlock()
	return nil
}

func (s *testServer) stop() {
	s.mu.Lock()
	a, hs := s.app, s.hs
	s.app, s.hs = nil, nil
	s.mu.Unlock()
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
	hs.Close()
}

func (s *testServer) restart() error {
	s.stop()
	return s.start()
}

// runScenario runs loadgen with args against s and returns the report.
func runScenario(t *testing.T, s *testServer, args ...string) *Report {
	t.Helper()
	cfg, err := parseFlags(append(args, "--url", "ws://"+s.addr+"/api/ws", "--quiet"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.secret = testSecret
	cfg.restart = s.restart
	var stderr strings.Builder
	rep, err := newRunner(cfg, &stderr).execute(context.Background())
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var text strings.Builder
	rep.WriteText(&text)
	t.Log("\n" + text.String())
	return rep
}

func TestScenariosEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, rep *Report)
	}{
		{"storm", []string{"--scenario", "storm", "--count", "20", "--ramp", "100", "--duration", "500ms"}, nil},
		{"idle", []string{"--scenario", "idle", "--count", "20", "--duration", "1s"}, nil},
		{"active", []string{"--scenario", "active", "--count", "20", "--rate", "100", "--duration", "1500ms"}, func(t *testing.T, rep *Report) {
			if rep.AckMS.Count == 0 || rep.AckMS.P99 <= 0 || rep.ActionsOK == 0 {
				t.Errorf("no ack latency: %+v", rep.AckMS)
			}
		}},
		{"fanout", []string{"--scenario", "fanout", "--gardens", "4", "--devices", "5", "--rate", "40", "--duration", "1500ms"}, func(t *testing.T, rep *Report) {
			if rep.BroadcastMS.Count == 0 || rep.BroadcastMS.P50 <= 0 || rep.AckMS.Count == 0 {
				t.Errorf("no broadcast latency: %+v", rep.BroadcastMS)
			}
			if rep.BroadcastMissed != 0 {
				t.Errorf("%d broadcasts missed", rep.BroadcastMissed)
			}
		}},
		{"onegarden", []string{"--scenario", "onegarden", "--count", "20", "--rate", "20", "--duration", "1500ms"}, func(t *testing.T, rep *Report) {
			if rep.BroadcastMS.Count == 0 || rep.BroadcastMS.P99 <= 0 {
				t.Errorf("no broadcast latency: %+v", rep.BroadcastMS)
			}
		}},
		{"reconnect", []string{"--scenario", "reconnect", "--count", "20", "--settle", "8s"}, func(t *testing.T, rep *Report) {
			rc := rep.Reconnect
			if rc == nil || rc.Back != 20 || rc.Resumed+rc.Resynced != 20 || rc.PerDeviceMS.Count != 20 || rc.AllBackS <= 0 {
				t.Errorf("reconnect: %+v", rc)
			}
		}},
		{"patchsize", []string{"--scenario", "patchsize", "--bodies", "100"}, func(t *testing.T, rep *Report) {
			p := rep.Patch
			if p == nil || p.Patches == 0 || p.FullFrameBytes == 0 || p.RatioPct <= 0 || p.RatioPct >= 100 {
				t.Errorf("patch: %+v", p)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startTestServer(t)
			rep := runScenario(t, s, tc.args...)
			want := int64(20)
			if tc.name == "patchsize" {
				want = 2
			}
			if rep.ConnectionsOK != want || rep.ConnectionsFailed != 0 || rep.ConnectionsDropped != 0 || rep.SuccessRate != 1 {
				t.Errorf("connections: %d ok, %d failed, %d dropped, success %.2f; first error %q",
					rep.ConnectionsOK, rep.ConnectionsFailed, rep.ConnectionsDropped, rep.SuccessRate, rep.FirstError)
			}
			if rep.ConnectMS.Count == 0 || rep.ConnectMS.P50 <= 0 {
				t.Errorf("no connect latency: %+v", rep.ConnectMS)
			}
			if rep.ErrorFrames != 0 || rep.Rejected != 0 || rep.ProtocolErrors != 0 {
				t.Errorf("errors: %d Error frames, %d rejected, %d protocol; first %q", rep.ErrorFrames, rep.Rejected, rep.ProtocolErrors, rep.FirstError)
			}
			if tc.check != nil {
				tc.check(t, rep)
			}
		})
	}
}

func TestDevLogin(t *testing.T) {
	s := startTestServer(t)
	ts, err := newTokenSource("", true, false, "ws://"+s.addr+"/api/ws", http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.token("alice")
	if err != nil || strings.Count(tok, ".") != 2 {
		t.Fatalf("dev-login token %q: %v", tok, err)
	}
}
