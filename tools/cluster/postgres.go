package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// postgres is a throw-away PostgreSQL cluster from Debian's server
// binaries: data, unix socket and log in one directory, listening on the
// socket only (see the package comment for why it is not pgtest).
type postgres struct {
	root string // data/, the socket and postgres.log; removed by stop
	bin  string
	port int
	as   string // "postgres" when we run as root (PostgreSQL refuses root)
}

// pgBin returns the newest /usr/lib/postgresql/*/bin holding initdb.
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int { n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return n }
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: run `make pg-deps` (as root: apt-get install -y postgresql)")
}

// startPostgres initdbs a cluster in a new directory under os.TempDir(),
// starts it and creates the database "cosmic". On error nothing is left.
func startPostgres() (_ *postgres, err error) {
	p := &postgres{}
	if p.bin, err = pgBin(); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		p.as = "postgres"
	}
	// The postgres user must traverse and own the directory: a directory
	// of our own, 0755, chowned when we are root.
	if p.root, err = os.MkdirTemp("", "devcluster-"); err != nil {
		return nil, fmt.Errorf("postgres directory: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.stop())
		}
	}()
	if err := os.Chmod(p.root, 0o755); err != nil {
		return nil, err
	}
	if p.as != "" {
		u, err := user.Lookup(p.as)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", p.as, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(p.root, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := p.cmd("initdb", "-D", p.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	// The socket's name carries the port; nothing listens on TCP, so a
	// race for the port with another process does not matter.
	if p.port, err = freePort(); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c max_connections=200", p.port, p.root)
	if out, err := p.cmd("pg_ctl", "start", "-w", "-t", "60", "-D", p.data(), "-l", p.log(), "-o", opts).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(p.log())
		return nil, fmt.Errorf("pg_ctl start: %v: %s\nlog:\n%s", err, out, log)
	}
	if out, err := p.cmd("createdb", "-h", p.root, "-p", strconv.Itoa(p.port), "-U", "postgres", "cosmic").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("createdb: %v: %s", err, out)
	}
	return p, nil
}

func (p *postgres) data() string { return filepath.Join(p.root, "data") }
func (p *postgres) log() string  { return filepath.Join(p.root, "postgres.log") }

// url is the nodes' DATABASE_URL: the unix socket in root.
func (p *postgres) url() string {
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "localhost:" + strconv.Itoa(p.port),
		Path: "/cosmic", RawQuery: url.Values{"host": {p.root}}.Encode()}).String()
}

// stop stops the server (fast: sessions are cut) if it runs and removes
// the directory.
func (p *postgres) stop() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(p.data(), "postmaster.pid")); err == nil {
		if out, err := p.cmd("pg_ctl", "stop", "-w", "-m", "fast", "-D", p.data()).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %v: %s", err, out))
		}
	}
	if p.root != "" {
		errs = append(errs, os.RemoveAll(p.root))
	}
	return errors.Join(errs...)
}

// cmd runs a PostgreSQL binary, as the postgres user when we are root, in
// a process group of its own: the terminal's Ctrl-C reaches devcluster
// only, which stops PostgreSQL last, after the nodes.
func (p *postgres) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if p.as != "" {
		args = append([]string{"-u", p.as, "--", path}, args...)
		path = "runuser"
	}
	c := exec.Command(path, args...)
	c.Dir = os.TempDir()
	c.Env = append(os.Environ(), "LC_ALL=C", "PGCONNECT_TIMEOUT=10")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}
