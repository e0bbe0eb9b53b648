package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

var (
	repoRoot  string
	serverBin string
	// browser is shared by every test; each device is a new context.
	browser playwright.Browser
	// skipReason is set when a prerequisite is missing outside E2E=1.
	skipReason string
)

const chromiumPath = "/usr/bin/chromium"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	serverBin = filepath.Join(repoRoot, "bin", "cosmic-server")
	required := os.Getenv("E2E") == "1"

	if missing := prerequisites(); missing != "" {
		if required {
			fmt.Fprintf(os.Stderr, "e2e: %s (E2E=1 requires it; run `make test-e2e`)\n", missing)
			return 1
		}
		skipReason = missing
		return m.Run()
	}
	driverDir, err := driverDirectory()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	pw, err := playwright.Run(&playwright.RunOptions{DriverDirectory: driverDir, SkipInstallBrowsers: true, Verbose: false})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start playwright: %v\n", err)
		return 1
	}
	defer pw.Stop()
	browser, err = pw.Chromium.Launch(playwright.BrowserTypeLaunchOptions{
		ExecutablePath: playwright.String(chromiumPath),
		Headless:       playwright.Bool(true),
		Args: []string{"--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: launch chromium: %v\n", err)
		return 1
	}
	defer browser.Close()
	return m.Run()
}

// prerequisites returns what is missing to run the suite, or "".
func prerequisites() string {
	for _, f := range []struct{ path, what string }{
		{chromiumPath, "chromium (apt-get install -y chromium)"},
		{serverBin, "the server binary (make server)"},
		{filepath.Join(repoRoot, "web", "dist", "index.html"), "the web client (make web)"},
		{filepath.Join(repoRoot, "web", "dist", "cosmic.wasm"), "the WASM module (make wasm)"},
		{filepath.Join(repoRoot, "e2e", "node_modules", "playwright-core", "cli.js"), "the Playwright driver (cd e2e && npm ci)"},
	} {
		if _, err := os.Stat(f.path); err != nil {
			return "missing " + f.what
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "missing node"
	}
	return ""
}

// driverDirectory lays out what playwright-go expects — a directory whose
// `package` is the playwright-core module — and points it at node from
// PATH, so nothing is downloaded.
func driverDirectory() (string, error) {
	dir := filepath.Join(repoRoot, "e2e", ".driver")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("driver dir: %w", err)
	}
	link := filepath.Join(dir, "package")
	target := filepath.Join(repoRoot, "e2e", "node_modules", "playwright-core")
	if cur, err := os.Readlink(link); err != nil || cur != target {
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return "", fmt.Errorf("driver link: %w", err)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", err
	}
	os.Setenv("PLAYWRIGHT_NODEJS_PATH", node)
	os.Setenv("PLAYWRIGHT_DRIVER_PATH", dir)
	return dir, nil
}

func requireBrowser(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip("e2e: " + skipReason)
	}
}

// device is one browser context: a player's device with its own storage.
type device struct {
	t       *testing.T
	name    string
	ctx     playwright.BrowserContext
	page    playwright.Page
	mu      sync.Mutex
	console []string
	errors  []string
}

// newDevice opens a fresh context and page. On test failure its screenshot
// and console log go to e2e/artifacts/<test>/.
func newDevice(t *testing.T, name string) *device {
	t.Helper()
	requireBrowser(t)
	ctx, err := browser.NewContext(playwright.BrowserNewContextOptions{
		Viewport: &playwright.Size{Width: 1280, Height: 800},
	})
	if err != nil {
		t.Fatalf("new context: %v", err)
	}
	page, err := ctx.NewPage()
	if err != nil {
		t.Fatalf("new page: %v", err)
	}
	d := &device{t: t, name: name, ctx: ctx, page: page}
	page.On("console", func(m playwright.ConsoleMessage) {
		d.mu.Lock()
		defer d.mu.Unlock()
		line := fmt.Sprintf("%s [%s] %s", time.Now().Format("15:04:05.000"), m.Type(), m.Text())
		d.console = append(d.console, line)
		if m.Type() == "error" {
			d.errors = append(d.errors, m.Text())
		}
	})
	page.On("pageerror", func(err error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.errors = append(d.errors, "pageerror: "+err.Error())
		d.console = append(d.console, "pageerror: "+err.Error())
	})
	t.Cleanup(func() {
		if t.Failed() {
			if png, err := page.Screenshot(playwright.PageScreenshotOptions{FullPage: playwright.Bool(true)}); err == nil {
				saveArtifact(t, d.name+".png", png)
			}
			d.mu.Lock()
			saveArtifact(t, d.name+"-console.log", []byte(strings.Join(d.console, "\n")+"\n"))
			d.mu.Unlock()
		}
		_ = ctx.Close()
	})
	return d
}

// consoleErrors returns the console errors seen so far.
func (d *device) consoleErrors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.errors...)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func saveArtifact(t *testing.T, name string, data []byte) {
	dir := filepath.Join(repoRoot, "e2e", "artifacts", unsafeName.ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifact dir: %v", err)
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Logf("artifact: %v", err)
		return
	}
	t.Logf("saved %s", path)
}
