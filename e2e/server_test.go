package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/auth"
)

// server is the cosmic-server binary running as a subprocess.
type server struct {
	t    *testing.T
	addr string // 127.0.0.1:port, stable across restarts
	env  []string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan error
}

// serverOptions adjust a test server.
type serverOptions struct {
	Heartbeat   time.Duration // HEARTBEAT_INTERVAL, default 30s
	DevTokenTTL time.Duration // DEV_TOKEN_TTL
}

// startServer runs the binary with a fresh database on a free port.
func startServer(t *testing.T, opt serverOptions) *server {
	t.Helper()
	s := &server{t: t, addr: freeAddr(t), log: &lockedBuffer{}}
	s.env = append(os.Environ(),
		"DEV_MODE=1",
		"ADDR="+s.addr,
		"DB_PATH="+filepath.Join(t.TempDir(), "cosmic.db"),
		"WEB_DIR="+filepath.Join(repoRoot, "web", "dist"),
		"LOG_LEVEL=debug",
	)
	if opt.Heartbeat > 0 {
		s.env = append(s.env, "HEARTBEAT_INTERVAL="+opt.Heartbeat.String())
	}
	if opt.DevTokenTTL > 0 {
		s.env = append(s.env, "DEV_TOKEN_TTL="+opt.DevTokenTTL.String())
	}
	s.start()
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM)
		if t.Failed() {
			saveArtifact(t, "server.log", []byte(s.log.String()))
		}
	})
	return s
}

// URL returns the server's base URL.
func (s *server) URL() string { return "http://" + s.addr }

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(serverBin)
	s.cmd.Env = s.env
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start server: %v", err)
	}
	done := make(chan error, 1)
	s.done = done
	go func(cmd *exec.Cmd) { done <- cmd.Wait() }(s.cmd)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			s.t.Fatalf("server exited during start: %v\n%s", err, s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server not ready after 15s:\n%s", s.log.String())
		}
	}
}

// stop sends sig and waits for the process; safe to call when stopped.
func (s *server) stop(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// kill9 kills the server without a chance to clean up.
func (s *server) kill9() { s.stop(syscall.SIGKILL) }

// restart starts the binary again on the same address and database.
func (s *server) restart() { s.start() }

// operatorToken mints an operator's token for user ("role": "operator"),
// which a SaveGame with a state needs; dev-login gives players' tokens.
// The server runs in development mode without JWT_SECRET, so it checks
// tokens with auth.DevSecret (TestExpiredToken mints with it too).
func (s *server) operatorToken(user string) string {
	s.t.Helper()
	iss, err := auth.NewIssuer([]byte(auth.DevSecret), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	tok, err := iss.IssueOperator(user, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// token returns a dev-login token for user.
func (s *server) token(user string) string {
	s.t.Helper()
	resp, err := http.Post(s.URL()+"/api/auth/dev-login", "application/json", strings.NewReader(fmt.Sprintf(`{"user":%q}`, user)))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
		s.t.Fatalf("dev-login: %v %+v", err, body)
	}
	return body.Token
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer collects a subprocess's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proxy is a TCP proxy between the browser and the server that a test
// uses to drop every connection or to stop forwarding silently.
type proxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]*link
	refuse bool // close new connections at once
	wg     sync.WaitGroup
}

// link is one proxied connection pair. A paused link reads and discards:
// both peers see a live TCP connection that carries nothing.
type link struct {
	paused bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, conns: map[net.Conn]*link{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL returns the proxy's base URL.
func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{}
		p.mu.Lock()
		p.conns[c], p.conns[up] = l, l
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up, l)
		go p.pipe(up, c, l)
	}
}

// pipe copies src to dst until either fails, discarding while l is paused.
func (p *proxy) pipe(dst, src net.Conn, l *link) {
	defer p.wg.Done()
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			paused := l.paused
			p.mu.Unlock()
			if !paused {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// dropAll closes every proxied connection at once (both sides see a reset
// or EOF), while new connections are still accepted.
func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

// pauseAll stops forwarding on every current connection without closing
// anything: a dead link. New connections are forwarded normally.
func (p *proxy) pauseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.conns {
		l.paused = true
	}
}

// setRefuse makes the proxy close new connections at once (true), as a
// server that is unreachable, or accept them again (false).
func (p *proxy) setRefuse(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
}

func (p *proxy) close() {
	p.ln.Close()
	p.dropAll()
	p.wg.Wait()
}
