package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// sourceIP is the context key of the loopback address a dial binds to.
type sourceIP struct{}

// tcpSlot is where the dialer leaves a device's TCP connection, so that
// the run can end it without a TIME_WAIT on the tool's side.
type tcpSlot struct{}

// newHTTPClient returns the client used for WebSocket dials and
// dev-login: no proxy (all traffic stays on loopback), and a dialer that
// hands each connection to the device asking for it.
func newHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dd := d
			if ip, ok := ctx.Value(sourceIP{}).(net.IP); ok {
				dd = &net.Dialer{Timeout: d.Timeout, LocalAddr: &net.TCPAddr{IP: ip}, Control: bindNoPort}
			}
			c, err := dd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if slot, ok := ctx.Value(tcpSlot{}).(*atomic.Pointer[net.TCPConn]); ok {
				if tc, ok := c.(*net.TCPConn); ok {
					slot.Store(tc)
				}
			}
			return c, nil
		},
		MaxIdleConnsPerHost: 4,
	}}
}

// loopbackSource returns the source address of device idx when the run
// spreads its connections over n loopback addresses (--source-ips): each
// address has its own ephemeral port range, so the kernel's port search
// stays short with tens of thousands of connections.
func loopbackSource(target string, idx, n int) (net.IP, bool) {
	if n <= 1 {
		return nil, false
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, false
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil, false
	}
	return net.IPv4(127, 0, 0, byte(1+idx%n)), true
}

// abort closes a connection with a reset instead of a FIN: at the end of
// a run of thousands of connections, client-side TIME_WAIT sockets would
// hold ephemeral ports for a minute and slow the next run's connects
// (the kernel searches longer for a free port as the range fills).
func abort(slot *atomic.Pointer[net.TCPConn]) {
	if tc := slot.Swap(nil); tc != nil {
		_ = tc.SetLinger(0)
	}
}

// timeWaitSockets counts the TCP sockets in TIME_WAIT (state 06 in
// /proc/net/tcp and tcp6).
func timeWaitSockets() int {
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if fs := strings.Fields(line); len(fs) > 3 && fs[3] == "06" {
				n++
			}
		}
	}
	return n
}
