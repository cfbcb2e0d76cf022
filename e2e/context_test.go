package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/pkitest"
)

// TestContexts: berth and the docker CLI share one context store: contexts
// created by either are used by both, with TLS material, and ls/inspect
// agree.
func TestContexts(t *testing.T) {
	needRoot(t)
	pki := t.TempDir()
	ca := pkitest.NewCA(t, pki, "ca")
	srv := ca.Server(pki, "server")
	cli := ca.Client(pki, "client")
	addr := freeLoopbackPort(t)
	d := StartDaemon(t, "-H", "tcp://"+addr, "--tlsverify", "--tlscacert", ca.File, "--tlscert", srv.Cert, "--tlskey", srv.Key)
	d.ImportBusybox()
	cfgDir := t.TempDir()
	berth := filepath.Join(d.bin, "berth")

	run := func(bin string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		env := []string{"DOCKER_CONFIG=" + cfgDir}
		for _, e := range os.Environ() {
			if k, _, _ := strings.Cut(e, "="); !strings.HasPrefix(k, "DOCKER_") && !strings.HasPrefix(k, "BERTH_") {
				env = append(env, e)
			}
		}
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	must := func(bin string, args ...string) string {
		t.Helper()
		o, e, err := run(bin, args...)
		if err != nil {
			t.Fatalf("%s %v: %v\n%s%s", bin, args, err, o, e)
		}
		return o
	}

	// Created by berth, with TLS material, used by both.
	must(berth, "context", "create", "remote", "--description", "mutual TLS",
		"--docker", "host=tcp://"+addr+",ca="+ca.File+",cert="+cli.Cert+",key="+cli.Key)
	for _, bin := range []string{berth, "docker"} {
		if out := must(bin, "--context", "remote", "run", "--rm", "busybox", "echo", "ctx"); strings.TrimSpace(out) != "ctx" {
			t.Errorf("%s --context remote run: %q", bin, out)
		}
	}
	// Created by docker, used by berth.
	must("docker", "context", "create", "local", "--docker", "host="+d.Host)
	if out := must(berth, "--context", "local", "version", "--format", "{{.Server.Version}}"); strings.TrimSpace(out) == "" {
		t.Errorf("berth --context local version: empty")
	}

	// use: both see it, and both connect through it without -H.
	must(berth, "context", "use", "remote")
	for _, bin := range []string{berth, "docker"} {
		if out := must(bin, "context", "show"); strings.TrimSpace(out) != "remote" {
			t.Errorf("%s context show: %q", bin, out)
		}
		must(bin, "ps")
		if out := must(bin, "version"); !strings.Contains(out, " Context:") || !strings.Contains(out, "remote\n") {
			t.Errorf("%s version does not name the context:\n%s", bin, out)
		}
	}
	// -H and --context together are refused, as docker does.
	if _, e, err := run(berth, "-H", d.Host, "--context", "remote", "ps"); err == nil || !strings.Contains(e, "conflicting options") {
		t.Errorf("-H with --context: %v %s", err, e)
	}

	// ls and inspect agree with docker's (the default context's endpoint
	// differs by design: each CLI's own default socket).
	lsFmt := "{{.Name}}|{{.Current}}|{{.Description}}|{{.DockerEndpoint}}"
	strip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			if !strings.HasPrefix(l, "default|") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if b, dk := strip(must(berth, "context", "ls", "--format", lsFmt)), strip(must("docker", "context", "ls", "--format", lsFmt)); b != dk {
		t.Errorf("context ls:\nberth:\n%s\ndocker:\n%s", b, dk)
	}
	var bi, di []map[string]any
	json.Unmarshal([]byte(must(berth, "context", "inspect", "remote", "local")), &bi)
	json.Unmarshal([]byte(must("docker", "context", "inspect", "remote", "local")), &di)
	if len(bi) != 2 || !reflect.DeepEqual(bi, di) {
		t.Errorf("context inspect:\nberth:  %v\ndocker: %v", bi, di)
	}
	if out := must(berth, "context", "ls", "-q"); out != "default\nlocal\nremote\n" {
		t.Errorf("ls -q: %q", out)
	}

	// rm: the current context only with -f, then back to default.
	if _, e, err := run(berth, "context", "rm", "remote"); err == nil || !strings.Contains(e, "in use") {
		t.Errorf("rm current context: %v %s", err, e)
	}
	must(berth, "context", "rm", "-f", "remote", "local")
	if out := must("docker", "context", "show"); strings.TrimSpace(out) != "default" {
		t.Errorf("after rm -f: docker context show %q", out)
	}
	if out := must("docker", "context", "ls", "-q"); strings.TrimSpace(out) != "default" {
		t.Errorf("after rm: %q", out)
	}
	// Bad input.
	for _, args := range [][]string{
		{"context", "create", "default"}, {"context", "create", "-bad"}, {"context", "use", "nope"},
		{"context", "create", "x", "--docker", "host=tcp://h:1,bogus=1"},
		{"context", "create", "x", "--docker", "host=tcp://h:1,cert=" + cli.Cert},
	} {
		if _, _, err := run(berth, args...); err == nil {
			t.Errorf("berth %v: accepted", args)
		}
	}
}
