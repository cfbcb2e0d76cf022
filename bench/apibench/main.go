// Command apibench measures container start costs against a Docker-API
// daemon (berthd, dockerd, podman's compat service) and through a CLI, for
// bench/run.sh. It is a benchmark tool: it never runs in CI.
//
//	apibench ping     -sock S [-timeout 20s]               wait until GET /_ping answers OK
//	apibench api      -sock S [-n 20] [-image busybox]     create/start/wait/delete, medians
//	apibench parallel -sock S [-n 50] -ids FILE            create+start N `sleep` containers at once
//	apibench rmall    -sock S -ids FILE                    force-remove them at once
//	apibench cli      [-n 20] [-image busybox] -- CLI...   `CLI run --rm`, create/start -a/rm and exec, medians
//	apibench oci-wrap RUNTIME ARGS...                      drop RLIMIT_NPROC from the bundle, exec RUNTIME
//	apibench table    RESULTS                              print "engine metric value" lines as a table
//
// Timing lines go to stdout as "metric value", value in milliseconds.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: apibench api|parallel|rmall|cli|table ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "api":
		err = runAPI(os.Args[2:])
	case "ping":
		err = runPing(os.Args[2:])
	case "parallel":
		err = runParallel(os.Args[2:])
	case "rmall":
		err = runRmAll(os.Args[2:])
	case "cli":
		err = runCLI(os.Args[2:])
	case "oci-wrap":
		err = runOCIWrap(os.Args[2:])
	case "table":
		err = runTable(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

// apiVersion is one every engine under test serves (dockerd 20.10 tops at
// 1.41; berthd and podman's compat layer accept it).
const apiVersion = "/v1.41"

type client struct{ hc *http.Client }

func newClient(sock string) *client {
	return &client{hc: &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			},
			MaxIdleConnsPerHost: 64,
		},
	}}
}

func (c *client) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://engine"+apiVersion+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, b, err)
		}
	}
	return nil
}

func (c *client) create(image string, cmd []string) (string, error) {
	var res struct{ Id string }
	body := map[string]any{
		"Image":      image,
		"Cmd":        cmd,
		"HostConfig": map[string]any{"NetworkMode": "none"},
	}
	if err := c.do("POST", "/containers/create", body, &res); err != nil {
		return "", err
	}
	return res.Id, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func runAPI(args []string) error {
	fs := flag.NewFlagSet("api", flag.ExitOnError)
	sock := fs.String("sock", "", "engine API unix socket")
	n := fs.Int("n", 20, "runs")
	image := fs.String("image", "busybox", "image")
	fs.Parse(args)
	c := newClient(*sock)
	var create, start, wait, del, total []float64
	// One unmeasured warm-up run: first-use costs (image metadata, lazy
	// daemon state) are not what a steady start costs.
	for i := -1; i < *n; i++ {
		t0 := time.Now()
		id, err := c.create(*image, []string{"true"})
		if err != nil {
			return err
		}
		t1 := time.Now()
		if err := c.do("POST", "/containers/"+id+"/start", nil, nil); err != nil {
			return err
		}
		t2 := time.Now()
		var w struct{ StatusCode int }
		if err := c.do("POST", "/containers/"+id+"/wait", nil, &w); err != nil {
			return err
		}
		if w.StatusCode != 0 {
			return fmt.Errorf("container %s exited %d", id, w.StatusCode)
		}
		t3 := time.Now()
		if err := c.do("DELETE", "/containers/"+id, nil, nil); err != nil {
			return err
		}
		t4 := time.Now()
		if i < 0 {
			continue
		}
		create = append(create, ms(t1.Sub(t0)))
		start = append(start, ms(t2.Sub(t1)))
		wait = append(wait, ms(t3.Sub(t2)))
		del = append(del, ms(t4.Sub(t3)))
		total = append(total, ms(t4.Sub(t0)))
	}
	fmt.Printf("api.run %.2f\napi.create %.2f\napi.start %.2f\napi.wait %.2f\napi.delete %.2f\n",
		median(total), median(create), median(start), median(wait), median(del))
	return nil
}

func runPing(args []string) error {
	fs := flag.NewFlagSet("ping", flag.ExitOnError)
	sock := fs.String("sock", "", "engine API unix socket")
	timeout := fs.Duration("timeout", 20*time.Second, "how long to wait")
	fs.Parse(args)
	c := newClient(*sock)
	c.hc.Timeout = time.Second
	deadline := time.Now().Add(*timeout)
	for {
		resp, err := c.hc.Get("http://engine/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /_ping: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no answer within %s: %v", *sock, *timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runParallel(args []string) error {
	fs := flag.NewFlagSet("parallel", flag.ExitOnError)
	sock := fs.String("sock", "", "engine API unix socket")
	n := fs.Int("n", 50, "containers")
	image := fs.String("image", "busybox", "image")
	idsFile := fs.String("ids", "", "file to write the container IDs to")
	fs.Parse(args)
	c := newClient(*sock)
	ids := make([]string, *n)
	errs := make([]error, *n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range *n {
		wg.Go(func() {
			id, err := c.create(*image, []string{"sleep", "3600"})
			if err == nil {
				ids[i] = id
				err = c.do("POST", "/containers/"+id+"/start", nil, nil)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	var created []string
	for _, id := range ids {
		if id != "" {
			created = append(created, id)
		}
	}
	if err := os.WriteFile(*idsFile, []byte(strings.Join(created, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Printf("parallel.start%d %.2f\n", *n, ms(elapsed))
	return nil
}

func runRmAll(args []string) error {
	fs := flag.NewFlagSet("rmall", flag.ExitOnError)
	sock := fs.String("sock", "", "engine API unix socket")
	idsFile := fs.String("ids", "", "file with container IDs")
	fs.Parse(args)
	b, err := os.ReadFile(*idsFile)
	if err != nil {
		return err
	}
	ids := strings.Fields(string(b))
	c := newClient(*sock)
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, id := range ids {
		wg.Go(func() { errs[i] = c.do("DELETE", "/containers/"+id+"?force=1", nil, nil) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Printf("parallel.rm%d %.2f\n", len(ids), ms(time.Since(t0)))
	return nil
}

// runCLI times the CLI given after "--" (e.g. `docker -H unix://S`).
func runCLI(args []string) error {
	fs := flag.NewFlagSet("cli", flag.ExitOnError)
	n := fs.Int("n", 20, "runs")
	image := fs.String("image", "busybox", "image")
	fs.Parse(args)
	cli := fs.Args()
	if len(cli) == 0 {
		return fmt.Errorf("cli: no command after --")
	}
	run := func(extra ...string) (string, time.Duration, error) {
		cmd := exec.Command(cli[0], append(slices.Clone(cli[1:]), extra...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return "", d, fmt.Errorf("%s %s: %v: %s", cli[0], strings.Join(extra, " "), err, strings.TrimSpace(errb.String()))
		}
		return strings.TrimSpace(out.String()), d, nil
	}
	var runs, creates, starts, rms []float64
	for i := -1; i < *n; i++ {
		_, d, err := run("run", "--rm", "--network", "none", *image, "true")
		if err != nil {
			return err
		}
		if i >= 0 {
			runs = append(runs, ms(d))
		}
	}
	for i := -1; i < *n; i++ {
		id, dc, err := run("create", "--network", "none", *image, "true")
		if err != nil {
			return err
		}
		_, ds, err := run("start", "-a", id)
		if err != nil {
			return err
		}
		_, dr, err := run("rm", id)
		if err != nil {
			return err
		}
		if i >= 0 {
			creates, starts, rms = append(creates, ms(dc)), append(starts, ms(ds)), append(rms, ms(dr))
		}
	}
	fmt.Printf("cli.run %.2f\ncli.create %.2f\ncli.start %.2f\ncli.rm %.2f\n", median(runs), median(creates), median(starts), median(rms))
	// `exec c true` into one running container.
	id, _, err := run("run", "-d", "--network", "none", *image, "sleep", "600")
	if err != nil {
		return err
	}
	defer run("rm", "-f", id)
	var execs []float64
	for i := -1; i < *n; i++ {
		_, d, err := run("exec", id, "true")
		if err != nil {
			return err
		}
		if i >= 0 {
			execs = append(execs, ms(d))
		}
	}
	fmt.Printf("cli.exec %.2f\n", median(execs))
	return nil
}

// runOCIWrap stands in for an OCI runtime: on create or run it removes
// RLIMIT_NPROC from the bundle's config.json, on exec from the --process
// file, then execs the real runtime.
// Rootful podman always asks for one, and where root lacks
// CAP_SYS_RESOURCE the runtime's prlimit on the container fails even when
// lowering it; dockerd and berthd set no rlimits by default, so this keeps
// the comparison like for like.
func runOCIWrap(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("oci-wrap: no runtime")
	}
	rt := args[0]
	rest := args[1:]
	isCreate, isExec := false, false
	bundle, process := ".", ""
	for i, a := range rest {
		switch {
		case a == "create" || a == "run":
			isCreate = true
		case a == "exec":
			isExec = true
		case (a == "--bundle" || a == "-b") && i+1 < len(rest):
			bundle = rest[i+1]
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case (a == "--process" || a == "-p") && i+1 < len(rest):
			process = rest[i+1]
		case strings.HasPrefix(a, "--process="):
			process = strings.TrimPrefix(a, "--process=")
		}
	}
	switch {
	case isCreate:
		// config.json: the rlimits are under "process".
		if err := rewriteJSON(bundle+"/config.json", func(spec map[string]any) {
			if proc, ok := spec["process"].(map[string]any); ok {
				dropNproc(proc)
			}
		}); err != nil {
			return err
		}
	case isExec && process != "":
		// podman exec's process.json holds them at the top level.
		if err := rewriteJSON(process, dropNproc); err != nil {
			return err
		}
	}
	return syscall.Exec(rt, append([]string{rt}, rest...), os.Environ())
}

// dropNproc removes RLIMIT_NPROC from a process object's "rlimits".
func dropNproc(proc map[string]any) {
	rl, ok := proc["rlimits"].([]any)
	if !ok {
		return
	}
	var keep []any
	for _, r := range rl {
		if m, ok := r.(map[string]any); ok && m["type"] == "RLIMIT_NPROC" {
			continue
		}
		keep = append(keep, r)
	}
	proc["rlimits"] = keep
}

// rewriteJSON applies edit to the JSON object in path.
func rewriteJSON(path string, edit func(map[string]any)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("oci-wrap: %s: %w", path, err)
	}
	edit(obj)
	out, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// runTable prints "engine metric value" lines as one row per metric, one
// column per engine, and each other engine's ratio to berth.
func runTable(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("table: want one results file")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	engines := []string{"berth", "docker", "podman"}
	vals := map[string]map[string]float64{}
	var metrics []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		v, err := strconv.ParseFloat(fields[2], 64)
		if err != nil {
			continue
		}
		if vals[fields[1]] == nil {
			vals[fields[1]] = map[string]float64{}
			metrics = append(metrics, fields[1])
		}
		vals[fields[1]][fields[0]] = v
	}
	cell := func(m map[string]float64, e string) string {
		v, ok := m[e]
		if !ok {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	ratio := func(m map[string]float64, e string) string {
		b, ok1 := m["berth"]
		v, ok2 := m[e]
		if !ok1 || !ok2 || b == 0 {
			return "-"
		}
		return strconv.FormatFloat(v/b, 'f', 2, 64) + "x"
	}
	fmt.Printf("%-26s %12s %12s %12s %14s %14s\n", "metric (ms | KiB)", "berth", "docker", "podman", "docker/berth", "podman/berth")
	for _, name := range metrics {
		m := vals[name]
		fmt.Printf("%-26s %12s %12s %12s %14s %14s\n", name, cell(m, engines[0]), cell(m, engines[1]), cell(m, engines[2]), ratio(m, "docker"), ratio(m, "podman"))
	}
	return sc.Err()
}
