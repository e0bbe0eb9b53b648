package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// server is one run of the built binary.
type server struct {
	cmd  *exec.Cmd
	addr string
	logs *lines
	read sync.WaitGroup // the stderr reader
}

// lines collects a process's log lines.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.l = append(l.l, s); l.mu.Unlock() }
func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

var listening = regexp.MustCompile(`msg=listening (?:\S+ )*?addr=(\S+)`)

// storeEnv returns the variable that selects the store at db: a
// postgres:// URL selects PostgreSQL (DATABASE_URL), anything else is the
// path of a SQLite file (DB_PATH).
func storeEnv(db string) string {
	if strings.HasPrefix(db, "postgres://") {
		return "DATABASE_URL=" + db
	}
	return "DB_PATH=" + db
}

// startServer runs bin on the store at db (see storeEnv), with the extra
// variables env, and waits for its "listening" line.
func startServer(t *testing.T, bin, db string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DEV_MODE=1", storeEnv(db), "ADDR=127.0.0.1:0",
		"WEB_DIR="+t.TempDir(), "LOG_LEVEL=info", "LOG_FORMAT=text", "LOG_FILE=",
		"JWT_SECRET=crash-test-secret-0123456789abcdef-0123")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &lines{}}
	addr := make(chan string, 1)
	s.read.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.logs.add(sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	})
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			s.read.Wait()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	select {
	case s.addr = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatalf("no listening line:\n%s", s.logs)
	}
	return s
}

// wait waits for the process to exit and returns its exit code.
func (s *server) wait(t *testing.T) int {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.read.Wait() // Wait must follow the last read of the pipe
		_ = s.cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		t.Fatalf("process did not exit:\n%s", s.logs)
	}
	return s.cmd.ProcessState.ExitCode()
}

// connect logs in with dev-login and dials with a header token.
func (s *server) connect(t *testing.T, user string) *wstest.Client {
	t.Helper()
	resp, err := http.Post("http://"+s.addr+"/api/auth/dev-login", "application/json", strings.NewReader(`{"user":"`+user+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var login struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || login.Token == "" {
		t.Fatalf("dev-login: %d %v", resp.StatusCode, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/api/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + login.Token}}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(16 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	c := &wstest.Client{T: t, Conn: conn}
	c.Expect(protocol.TypeWelcome)
	return c
}

// serverBinary builds the server once per test binary run (in binDir,
// removed by TestMain) and returns its path.
func serverBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	build.once.Do(func() {
		bin := filepath.Join(binDir, "cosmic-server")
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		build.bin = bin
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

var build struct {
	once sync.Once
	bin  string
	err  error
}

// TestCrashRecovery kills the server with SIGKILL in the middle of a
// stream of actions: after a restart on the same database, every
// acknowledged action is in the garden exactly once, and replaying its id
// returns the original result without a new version (protocol.md §2, §3).
// Then SIGTERM closes clients with 1001 and exits 0 (protocol.md §11). It
// runs on SQLite (DB_PATH) and on PostgreSQL (DATABASE_URL).
func TestCrashRecovery(t *testing.T) {
	stores := []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "cosmic.db") }},
		{"postgres", func(t *testing.T) string { return pg.URL(t) }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { crashRecovery(t, st.db(t)) })
	}
}

func crashRecovery(t *testing.T, db string) {
	bin := serverBinary(t)
	srv := startServer(t, bin, db)
	c := srv.connect(t, "alice")
	const n, ackBeforeKill = 50, 25
	for i := range n { // pipelined: the kill lands with actions in flight
		c.Create(fmt.Sprintf("crash-%d", i), "asteroid", float64(i), float64(-i), 0)
	}
	acked := map[string][]byte{}
	for i := range ackBeforeKill {
		id := fmt.Sprintf("crash-%d", i)
		res, env := c.Result(id)
		if !res.Success || res.BodyID != "b-"+id {
			t.Fatalf("action %s: %s", id, env.Data)
		}
		acked[id] = env.Data
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := srv.wait(t); code != -1 {
		t.Fatalf("killed server exit code %d, want -1 (signal)", code)
	}

	srv = startServer(t, bin, db)
	c = srv.connect(t, "alice")
	full := c.FullState()
	var st game.State
	if err := json.Unmarshal(full.Data.State, &st); err != nil {
		t.Fatal(err)
	}
	for id := range acked {
		if b := st.Bodies["b-"+id]; b == nil || b.Type != "asteroid" {
			t.Errorf("acknowledged body b-%s lost in the crash", id)
		}
	}
	// Exactly once: one create is one body and one version, and an
	// action applied twice would be a second body or a skipped version.
	if len(st.Bodies) < len(acked) || len(st.Bodies) > n || full.Data.Version != uint64(len(st.Bodies))+1 {
		t.Errorf("after the crash: %d bodies at version %d; want %d to %d bodies at version bodies+1",
			len(st.Bodies), full.Data.Version, len(acked), n)
	}
	for i := range ackBeforeKill {
		id := fmt.Sprintf("crash-%d", i)
		c.Create(id, "asteroid", float64(i), float64(-i), 0)
		if _, env := c.Result(id); string(env.Data) != string(acked[id]) {
			t.Errorf("replay of %s: %s, original %s", id, env.Data, acked[id])
		}
	}
	if again := c.FullState(); again.Data.Version != full.Data.Version || again.Data.Hash != full.Data.Hash {
		t.Fatalf("replays moved the garden from version %d to %d", full.Data.Version, again.Data.Version)
	}

	other := srv.connect(t, "bob")
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wstest.Client{c, other} {
		if code, reason := cl.CloseStatus(15 * time.Second); code != websocket.StatusGoingAway {
			t.Errorf("on SIGTERM closed %d %q, want 1001", code, reason)
		}
	}
	if code := srv.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0:\n%s", code, srv.logs)
	}
}
