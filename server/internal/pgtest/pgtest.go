// Package pgtest runs a throw-away PostgreSQL cluster for tests, from the
// server binaries of the Debian package (no containers): initdb in a
// temporary directory, the server on a free port with its unix socket and
// log file inside that directory, a fresh database per test.
//
// A test package starts one cluster, lazily, on the first [Cluster.URL]
// call, and stops it after its tests:
//
//	var pg pgtest.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }
//
//	func TestX(t *testing.T) { url := pg.URL(t) ... }
//
// PostgreSQL refuses to run as root, so when the tests run as root the
// cluster runs as the "postgres" user (runuser). Missing binaries fail the
// test with how to install them: `make test` installs them (Makefile,
// target pg-deps), and no test is skipped for want of them.
package pgtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Cluster is one test package's PostgreSQL cluster. The zero value is
// ready to use; it starts on the first URL call. Safe for concurrent use.
type Cluster struct {
	once sync.Once
	err  error
	root string // temporary directory holding data/, the socket and the log
	bin  string
	port int
	as   string // "postgres" when running as root, "" otherwise
	n    atomic.Int64
}

// Run runs the package's tests and then stops the cluster if one was
// started; its result is m.Run's, or 1 if the cluster could not be stopped.
func (c *Cluster) Run(m interface{ Run() int }) int {
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// URL creates a fresh, empty database and returns its postgres:// URL
// (host is the cluster's socket directory). The database is dropped at
// the test's cleanup. It fails t if PostgreSQL is missing or cannot start.
func (c *Cluster) URL(t testing.TB) string {
	t.Helper()
	c.once.Do(func() { c.err = c.start() })
	if c.err != nil {
		t.Fatalf("pgtest: %v", c.err)
	}
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), c.n.Add(1))
	if out, err := c.cmd("createdb", "-h", c.root, "-p", strconv.Itoa(c.port), "-U", "postgres", name).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: createdb %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := c.cmd("dropdb", "-h", c.root, "-p", strconv.Itoa(c.port), "-U", "postgres", "--force", name).CombinedOutput(); err != nil {
			t.Errorf("pgtest: dropdb %s: %v: %s", name, err, out)
		}
	})
	return c.url(name)
}

func (c *Cluster) url(db string) string {
	q := url.Values{"host": {c.root}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "localhost:" + strconv.Itoa(c.port),
		Path: "/" + db, RawQuery: q.Encode()}).String()
}

// Socket returns the directory of the unix socket and the port, for tests
// that build their own URLs (after URL has started the cluster).
func (c *Cluster) Socket() (dir string, port int) { return c.root, c.port }

// Bin returns the directory of the PostgreSQL server binaries, or an error
// saying how to install them.
func Bin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: run `make pg-deps` (as root: apt-get install -y postgresql)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (c *Cluster) start() (err error) {
	if c.bin, err = Bin(); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		c.as = "postgres"
	}
	// The directory must be traversable by the postgres user: not under
	// t.TempDir() (0700), but a directory of our own, 0755.
	if c.root, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(c.root)
		}
	}()
	if err := os.Chmod(c.root, 0o755); err != nil {
		return err
	}
	if c.as != "" {
		u, err := user.Lookup(c.as)
		if err != nil {
			return fmt.Errorf("user %s: %w", c.as, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.root, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(c.root, "data")
	if out, err := c.cmd("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	if c.port, err = freePort(); err != nil {
		return err
	}
	return c.Resume()
}

// Resume starts the server of the cluster (again, after Halt) on its port.
func (c *Cluster) Resume() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=200", c.port, c.root)
	if out, err := c.cmd("pg_ctl", "start", "-w", "-t", "60", "-D", filepath.Join(c.root, "data"), "-l", filepath.Join(c.root, "log"), "-o", opts).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.root, "log"))
		return fmt.Errorf("pg_ctl start: %v: %s\nlog:\n%s", err, out, log)
	}
	return nil
}

// Halt stops the server (fast: sessions are cut), keeping its data, for
// tests of what an unreachable database does; Resume starts it again.
func (c *Cluster) Halt() error {
	if out, err := c.cmd("pg_ctl", "stop", "-w", "-m", "fast", "-D", filepath.Join(c.root, "data")).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Stop stops the cluster and removes its directory; a no-op if none was
// started.
func (c *Cluster) Stop() error {
	if c.root == "" || c.err != nil {
		return nil
	}
	var errs []error
	if _, err := os.Stat(filepath.Join(c.root, "data", "postmaster.pid")); err == nil {
		errs = append(errs, c.Halt())
	}
	errs = append(errs, os.RemoveAll(c.root))
	return errors.Join(errs...)
}

// cmd runs a PostgreSQL binary, as the postgres user when we are root.
func (c *Cluster) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.as != "" {
		args = append([]string{"-u", c.as, "--", path}, args...)
		path = "runuser"
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGCONNECT_TIMEOUT=10")
	return cmd
}

// freePort asks the kernel for a free TCP port. The server listens only on
// its unix socket, whose name carries the port, so a race with another
// process taking the same TCP port does not matter.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
