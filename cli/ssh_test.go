package cli

import (
	"strings"
	"testing"
)

func TestSSHArgs(t *testing.T) {
	for host, want := range map[string]string{
		"ssh://host":             "-o ConnectTimeout=30 -T -- host berth system dial-stdio",
		"ssh://me@host:2222":     "-l me -p 2222 -o ConnectTimeout=30 -T -- host berth system dial-stdio",
		"ssh://me@[::1]:22/":     "-l me -p 22 -o ConnectTimeout=30 -T -- ::1 berth system dial-stdio",
		"ssh://me:pw@host":       "error",
		"ssh://host/path":        "error",
		"ssh://":                 "error",
		"ssh://host?x=1":         "error",
		"ssh://-oProxyCommand=x": "-o ConnectTimeout=30 -T -- -oProxyCommand=x berth system dial-stdio",
	} {
		args, err := sshArgs(host)
		got := strings.Join(args, " ")
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%s: %q, want %q", host, got, want)
		}
	}
}
