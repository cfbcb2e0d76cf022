package image

import (
	"encoding/json"
	"path"
	"strconv"
	"strings"

	"github.com/google/shlex"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/sys/signal"

	"github.com/berth-dev/berth/internal/errdefs"
)

// ApplyChanges applies Dockerfile instructions (docker import/commit
// --change) to cfg: CMD, ENTRYPOINT (JSON or shell form), ENV, EXPOSE,
// LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL. Variables in values
// are not expanded. Anything else is InvalidArgument.
func ApplyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	for _, c := range changes {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		word, args, _ := strings.Cut(c, " ")
		args = strings.TrimSpace(args)
		if err := applyChange(cfg, strings.ToUpper(word), args); err != nil {
			return err
		}
	}
	return nil
}

func applyChange(cfg *dockerspec.DockerOCIImageConfig, cmd, args string) error {
	needArgs := func() error {
		if args == "" {
			return errdefs.InvalidArgumentf("%s requires at least one argument", cmd)
		}
		return nil
	}
	switch cmd {
	case "CMD", "ENTRYPOINT":
		if err := needArgs(); err != nil && cmd == "ENTRYPOINT" {
			return err
		}
		v, err := commandForm(args)
		if err != nil {
			return errdefs.InvalidArgumentf("%s: %w", cmd, err)
		}
		if cmd == "CMD" {
			cfg.Cmd = v
		} else {
			cfg.Entrypoint = v
			cfg.Cmd = nil // as in a Dockerfile: ENTRYPOINT resets an inherited CMD
		}
	case "ENV", "LABEL":
		if err := needArgs(); err != nil {
			return err
		}
		kvs, err := keyValues(cmd, args)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if cmd == "ENV" {
				cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
			} else {
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[kv[0]] = kv[1]
			}
		}
	case "EXPOSE":
		if err := needArgs(); err != nil {
			return err
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(args) {
			port, err := parsePort(p)
			if err != nil {
				return err
			}
			cfg.ExposedPorts[port] = struct{}{}
		}
	case "ONBUILD":
		if err := needArgs(); err != nil {
			return err
		}
		trigger, _, _ := strings.Cut(args, " ")
		switch strings.ToUpper(trigger) {
		case "ONBUILD", "FROM", "MAINTAINER":
			return errdefs.InvalidArgumentf("%s isn't allowed as an ONBUILD trigger", strings.ToUpper(trigger))
		}
		cfg.OnBuild = append(cfg.OnBuild, args)
	case "USER":
		if err := needArgs(); err != nil {
			return err
		}
		cfg.User = args
	case "VOLUME":
		if err := needArgs(); err != nil {
			return err
		}
		vols, err := listForm(args)
		if err != nil {
			return errdefs.InvalidArgumentf("VOLUME: %w", err)
		}
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range vols {
			if v = strings.TrimSpace(v); v == "" {
				return errdefs.InvalidArgumentf("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
	case "WORKDIR":
		if err := needArgs(); err != nil {
			return err
		}
		dir := args
		if !path.IsAbs(dir) {
			dir = path.Join("/", cfg.WorkingDir, dir)
		}
		cfg.WorkingDir = path.Clean(dir)
	case "STOPSIGNAL":
		if err := needArgs(); err != nil {
			return err
		}
		if err := validSignal(args); err != nil {
			return err
		}
		cfg.StopSignal = args
	case "ADD", "ARG", "COPY", "FROM", "HEALTHCHECK", "MAINTAINER", "RUN", "SHELL":
		return errdefs.InvalidArgumentf("%s is not a valid change command", cmd)
	default:
		return errdefs.InvalidArgumentf("dockerfile parse error: unknown instruction: %s", cmd)
	}
	return nil
}

// commandForm parses the JSON (exec) form or, failing that, the shell form
// of CMD/ENTRYPOINT.
func commandForm(args string) ([]string, error) {
	if strings.HasPrefix(args, "[") {
		var v []string
		if err := json.Unmarshal([]byte(args), &v); err == nil {
			return v, nil
		}
	}
	if args == "" {
		return nil, nil
	}
	return []string{"/bin/sh", "-c", args}, nil
}

// listForm parses a JSON array or whitespace-separated words.
func listForm(args string) ([]string, error) {
	if strings.HasPrefix(args, "[") {
		var v []string
		if err := json.Unmarshal([]byte(args), &v); err == nil {
			return v, nil
		}
	}
	return strings.Fields(args), nil
}

// keyValues parses "k=v k2='v 2'" or the legacy "k value with spaces".
func keyValues(cmd, args string) ([][2]string, error) {
	first, rest, _ := strings.Cut(args, " ")
	if !strings.Contains(first, "=") {
		if strings.TrimSpace(rest) == "" && cmd == "ENV" {
			return nil, errdefs.InvalidArgumentf("ENV must have two arguments")
		}
		return [][2]string{{first, strings.TrimSpace(rest)}}, nil
	}
	words, err := shlex.Split(args)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("%s: %w", cmd, err)
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, errdefs.InvalidArgumentf("%s names can not be blank and need a value: %q", cmd, w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// parsePort turns "80", "80/udp" or "8000-8010/tcp" into a port key.
func parsePort(p string) (string, error) {
	port, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return "", errdefs.InvalidArgumentf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(port, "-")
	l, err := strconv.Atoi(lo)
	h := l
	if err == nil && isRange {
		h, err = strconv.Atoi(hi)
	}
	if err != nil || l < 1 || h > 65535 || h < l {
		return "", errdefs.InvalidArgumentf("invalid containerPort: %s", port)
	}
	return port + "/" + proto, nil
}

func validSignal(s string) error {
	if _, err := signal.ParseSignal(s); err != nil {
		return errdefs.InvalidArgumentf("STOPSIGNAL: %w", err)
	}
	return nil
}
