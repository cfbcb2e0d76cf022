package opts

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

func cut(s, sep string) (string, string, bool) { return strings.Cut(s, sep) }

// ValidateEnv completes a bare -e KEY from the caller's environment; a KEY
// that is not set there is passed on bare, as docker does.
func ValidateEnv(val string) (string, error) {
	k, _, hasValue := strings.Cut(val, "=")
	if k == "" {
		return "", fmt.Errorf("invalid environment variable: %s", val)
	}
	if hasValue {
		return val, nil
	}
	if v, ok := os.LookupEnv(k); ok {
		return k + "=" + v, nil
	}
	return val, nil
}

// ValidateLabel rejects labels with an empty key.
func ValidateLabel(val string) (string, error) {
	if k, _, _ := strings.Cut(val, "="); strings.TrimSpace(k) == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", val)
	}
	return val, nil
}

// ParseKeyValueFile reads an env or label file: one KEY=VALUE per line,
// blank lines and '#' comments skipped, leading whitespace trimmed. With
// lookup non-nil a bare KEY takes its value from lookup, and is dropped when
// lookup has none.
func ParseKeyValueFile(filename string, lookup func(string) (string, bool)) ([]string, error) {
	fh, err := os.Open(filename)
	if err != nil {
		return nil, err
	}
	defer fh.Close()

	var lines []string
	scanner := bufio.NewScanner(fh)
	for n := 1; scanner.Scan(); n++ {
		raw := scanner.Bytes()
		if n == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF")) // UTF-8 BOM
		}
		if !utf8.Valid(raw) {
			return nil, fmt.Errorf("env file %s contains invalid utf8 bytes at line %d: %v", filename, n, raw)
		}
		line := strings.TrimLeftFunc(string(raw), unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		key, _, hasValue := strings.Cut(line, "=")
		if key == "" {
			return nil, fmt.Errorf("no variable name on line '%s'", line)
		}
		if strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("variable '%s' contains whitespaces", key)
		}
		if hasValue {
			lines = append(lines, line)
			continue
		}
		if lookup == nil {
			lines = append(lines, line)
		} else if v, ok := lookup(key); ok {
			lines = append(lines, key+"="+v)
		}
	}
	return lines, scanner.Err()
}

// ReadKVEnvStrings returns the variables of the env files followed by the
// -e values (later wins in the container).
func ReadKVEnvStrings(files, override []string) ([]string, error) {
	return readKV(files, override, os.LookupEnv)
}

// ReadKVStrings returns the labels of the label files followed by the -l values.
func ReadKVStrings(files, override []string) ([]string, error) {
	return readKV(files, override, nil)
}

func readKV(files, override []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, f := range files {
		lines, err := ParseKeyValueFile(f, lookup)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return append(out, override...), nil
}

// ConvertKVStringsToMap turns KEY=VALUE strings into a map; a bare KEY maps to "".
func ConvertKVStringsToMap(values []string) map[string]string {
	m := make(map[string]string, len(values))
	for _, v := range values {
		k, val, _ := strings.Cut(v, "=")
		m[k] = val
	}
	return m
}
