package app

import (
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// static serves the web client from dir, preferring a pre-compressed
// sibling (name.br, then name.gz) when the browser accepts it. index.html
// and the service of "/" are never cached; other assets are cached for an
// hour with revalidation, since their names are not content-hashed.
type static struct {
	dir string
	fs  http.Handler
}

func newStatic(dir string) *static {
	return &static{dir: dir, fs: http.FileServer(http.Dir(dir))}
}

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Clean("/" + r.URL.Path)
	if strings.HasSuffix(name, "/") || name == "/" {
		name = "/index.html"
	}
	if name == "/index.html" {
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=3600, must-revalidate")
	}
	accept := r.Header.Get("Accept-Encoding")
	for _, enc := range []struct{ token, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
		if !strings.Contains(accept, enc.token) {
			continue
		}
		full := filepath.Join(s.dir, filepath.FromSlash(name)+enc.ext)
		f, err := os.Open(full)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			f.Close()
			continue
		}
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Content-Encoding", enc.token)
		w.Header().Add("Vary", "Accept-Encoding")
		http.ServeContent(w, r, name, st.ModTime(), f)
		f.Close()
		return
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if name == "/index.html" {
		http.ServeFile(w, r, filepath.Join(s.dir, "index.html"))
		return
	}
	s.fs.ServeHTTP(w, r)
}
