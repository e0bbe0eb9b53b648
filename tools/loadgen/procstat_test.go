package main

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestReadTreeCountsChildren: the sample of a process that has a child
// includes the child's memory (a spawned cluster's nodes are children).
func TestReadTreeCountsChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & exec sleep 30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // one group: both killed at the end
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	// The child may take a moment to appear under the parent.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, alone, ok1 := readProc(pid)
		_, tree, ok2 := readTree(pid)
		if !ok1 || !ok2 {
			t.Fatalf("reading pid %d: %v %v", pid, ok1, ok2)
		}
		if tree > alone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tree RSS %d, process alone %d: the child is not counted", tree, alone)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
