package engine

import (
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestParsePSOutput(t *testing.T) {
	out := "UID   PID  PPID  C STIME TTY          TIME CMD\n" +
		"root    1     0  0 10:00 ?        00:00:01 /sbin/init splash\n" +
		"root   42     1  0 10:00 ?        00:00:00 sleep 300\n" +
		"root   43    42  0 10:00 ?        00:00:00 sh -c echo  hi\n"
	r, err := parsePSOutput([]byte(out), []int{42, 43})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Titles) != 8 || len(r.Processes) != 2 {
		t.Fatalf("%+v", r)
	}
	if got := r.Processes[1][7]; got != "sh -c echo hi" {
		t.Errorf("CMD = %q", got)
	}
	threads := "USER PID TTY STAT TIME COMMAND\nroot 42 ? - 0:00 sleep\nroot - - Ss 0:00 -\nroot 7 ? - 0:00 other\nroot - - S 0:00 -\n"
	r, err = parsePSOutput([]byte(threads), []int{42})
	if err != nil || len(r.Processes) != 2 {
		t.Fatalf("threads: %+v %v", r, err)
	}
	if _, err := parsePSOutput([]byte("USER COMMAND\nroot x\n"), nil); err == nil {
		t.Error("no PID column accepted")
	}
}

func TestValidatePSArgs(t *testing.T) {
	if err := validatePSArgs("-o pid=PID,comm"); err != nil {
		t.Error(err)
	}
	err := validatePSArgs("-o user=PID")
	if !errdefs.Is(err, errdefs.InvalidArgument) || err.Error() != `specifying "user=PID" is not allowed` {
		t.Errorf("got %v", err)
	}
}
