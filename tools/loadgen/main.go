package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process; it returns the exit code: 0 when the
// run completed (its figures say how well), 1 when it could not run, 2 on
// a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		if err := compare(args[1:], stdout); err != nil {
			fmt.Fprintf(stderr, "loadgen compare: %v\n", err)
			return 1
		}
		return 0
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	cfg.secret = os.Getenv("JWT_SECRET")
	if cfg.cpuProf != "" {
		f, err := os.Create(cfg.cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: --cpuprofile: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "loadgen: --cpuprofile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := newRunner(cfg, stderr).execute(ctx)
	if rep != nil {
		rep.WriteText(stdout)
		if cfg.jsonPath != "" {
			if werr := rep.WriteJSON(cfg.jsonPath); werr != nil {
				fmt.Fprintf(stderr, "loadgen: --json: %v\n", werr)
				return 1
			}
		}
		if cfg.htmlPath != "" {
			if werr := rep.WriteHTML(cfg.htmlPath); werr != nil {
				fmt.Fprintf(stderr, "loadgen: --html: %v\n", werr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	return 0
}
