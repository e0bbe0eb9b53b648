package app

import (
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// static serves the web client from dir, preferring a pre-compressed
// sibling (name.br, then name.gz) when the browser accepts it. index.html
// and the service of "/" are never cached; other assets are cached for an
// hour with revalidation, since their names are not content-hashed.
//
// It serves regular files only (issue 11 item 10): a directory is 404,
// never a listing, and so is any path with a segment starting with "."
// (/.env, /.git/config), which is never part of the built client.
type static struct {
	dir http.Dir
}

func newStatic(dir string) *static {
	return &static{dir: http.Dir(dir)}
}

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Clean("/" + r.URL.Path) // no "." or ".." segments left
	if name == "/" {
		name = "/index.html"
	}
	if strings.Contains(name, "/.") {
		http.NotFound(w, r)
		return
	}
	if name == "/index.html" {
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=3600, must-revalidate")
	}
	w.Header().Add("Vary", "Accept-Encoding")
	accept := r.Header.Get("Accept-Encoding")
	for _, enc := range []struct{ token, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
		if !strings.Contains(accept, enc.token) {
			continue
		}
		f, st, ok := s.open(name + enc.ext)
		if !ok {
			continue
		}
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Content-Encoding", enc.token)
		http.ServeContent(w, r, name, st.ModTime(), f)
		f.Close()
		return
	}
	f, st, ok := s.open(name)
	if !ok {
		w.Header().Del("Cache-Control")
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// open opens name when it is a regular file; http.Dir keeps it inside the
// directory.
func (s *static) open(name string) (http.File, fs.FileInfo, bool) {
	f, err := s.dir.Open(name)
	if err != nil {
		return nil, nil, false
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, false
	}
	return f, st, true
}
