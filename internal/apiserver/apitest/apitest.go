// Package apitest checks Engine API responses against the Docker Engine
// API swagger 2.0 documents that ship with the moby api module
// (github.com/moby/moby/api@<version>/docs/v1.NN.yaml, read from the Go
// module cache).
//
// It validates a JSON body against the response schema of one operation
// (path template, method, status): $ref, allOf, type (null only where the
// schema says x-nullable: true), required, properties,
// additionalProperties, items and enum. Errors name the JSON path:
//
//	$.State.Pid: expected integer, got string
//
// Handler tests and integration tests against a live berthd use Check.
package apitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

const apiModule = "github.com/moby/moby/api"

// fallbackModuleVersion is used when build info does not name the module
// version (keep in step with go.mod).
const fallbackModuleVersion = "v1.56.1"

// Spec is a parsed swagger document.
//
// By default null is accepted for an optional property even without
// x-nullable: Go encodes nil slices, maps and pointers as null, and dockerd
// does so all over (HostConfig.Binds, MemorySwappiness, ...); clients cope.
// Null stays an error for a required property, an array element and the
// body itself. StrictNull follows x-nullable to the letter.
type Spec struct {
	root       map[string]any
	strictNull bool
}

// StrictNull returns a view of s that rejects null wherever the schema
// does not say x-nullable: true.
func (s *Spec) StrictNull() *Spec {
	return &Spec{root: s.root, strictNull: true}
}

// Parse parses a swagger 2.0 document (YAML or JSON).
func Parse(doc []byte) (*Spec, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("parse swagger: %w", err)
	}
	v, err := fromNode(&n)
	if err != nil {
		return nil, fmt.Errorf("parse swagger: %w", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("parse swagger: document is not a mapping")
	}
	return &Spec{root: root}, nil
}

// fromNode converts a YAML node to plain Go values; mapping keys are
// always strings (status codes may be written unquoted).
func fromNode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*Spec{}
)

// Load returns the swagger document of an API version ("1.51"), parsed
// once per process.
func Load(version string) (*Spec, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if s, ok := cache[version]; ok {
		return s, nil
	}
	dir, err := DocsDir()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "v"+version+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("load swagger for API %s: %w", version, err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("load swagger for API %s: %w", version, err)
	}
	cache[version] = s
	return s, nil
}

// DocsDir locates the moby api module's docs directory: $BERTH_SWAGGER_DIR
// if set, else <GOMODCACHE>/github.com/moby/moby/api@<version>/docs with
// the version from the binary's build info.
func DocsDir() (string, error) {
	if d := os.Getenv("BERTH_SWAGGER_DIR"); d != "" {
		return d, nil
	}
	version := fallbackModuleVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == apiModule {
				if d.Replace != nil && d.Replace.Path != "" && d.Replace.Version == "" {
					return filepath.Join(d.Replace.Path, "docs"), nil
				}
				version = d.Version
			}
		}
	}
	modCache := os.Getenv("GOMODCACHE")
	if modCache == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			modCache = strings.TrimSpace(string(out))
		}
	}
	if modCache == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("locate module cache: %w", err)
			}
			gopath = filepath.Join(home, "go")
		}
		modCache = filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "pkg", "mod")
	}
	dir := filepath.Join(modCache, apiModule+"@"+version, "docs")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("locate swagger docs: %w", err)
	}
	return dir, nil
}

// ValidationError lists every mismatch found in one body.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return strings.Join(e.Problems, "\n")
}

// ResponseSchema returns the schema of a documented response, nil when
// the response has no body.
func (s *Spec) ResponseSchema(method, pathTemplate string, status int) (map[string]any, error) {
	paths, _ := s.root["paths"].(map[string]any)
	item, ok := paths[pathTemplate].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("swagger: no path %s", pathTemplate)
	}
	op, ok := item[strings.ToLower(method)].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("swagger: no operation %s %s", method, pathTemplate)
	}
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		resp, ok = responses["default"].(map[string]any)
	}
	if !ok {
		return nil, fmt.Errorf("swagger: %s %s does not document status %d", method, pathTemplate, status)
	}
	schema, _ := resp["schema"].(map[string]any)
	return schema, nil
}

// ValidateResponse checks a response body against the documented response
// of (method, pathTemplate, status). An undocumented status is an error.
func (s *Spec) ValidateResponse(method, pathTemplate string, status int, body []byte) error {
	schema, err := s.ResponseSchema(method, pathTemplate, status)
	if err != nil {
		return err
	}
	if schema == nil {
		if len(bytes.TrimSpace(body)) != 0 {
			return &ValidationError{Problems: []string{fmt.Sprintf("$: expected no body, got %d bytes", len(body))}}
		}
		return nil
	}
	if t, _ := schema["type"].(string); t == "string" {
		if schema["format"] == "binary" {
			return nil // a raw stream (export, logs)
		}
		if !json.Valid(body) {
			return s.Validate(schema, string(body)) // text/plain (/_ping)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return &ValidationError{Problems: []string{fmt.Sprintf("$: invalid JSON: %v", err)}}
	}
	if dec.More() {
		return &ValidationError{Problems: []string{"$: unexpected content after JSON"}}
	}
	return s.Validate(schema, v)
}

// Validate checks a decoded JSON value (numbers as json.Number) against a
// schema of this document.
func (s *Spec) Validate(schema map[string]any, v any) error {
	var probs []string
	s.validate("$", schema, v, false, &probs, 0)
	if len(probs) == 0 {
		return nil
	}
	// allOf parts may report the same mismatch.
	seen := map[string]bool{}
	uniq := probs[:0]
	for _, p := range probs {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	return &ValidationError{Problems: uniq}
}

func (s *Spec) resolve(ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("unsupported $ref %q", ref)
	}
	var cur any = s.root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("unresolvable $ref %q", ref)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("unresolvable $ref %q", ref)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not a schema", ref)
	}
	return m, nil
}

// validate checks v at path; optional says v is the value of a property the
// enclosing object does not require.
func (s *Spec) validate(path string, schema map[string]any, v any, optional bool, probs *[]string, depth int) {
	if depth > 64 {
		*probs = append(*probs, path+": schema nesting too deep")
		return
	}
	if ref, ok := schema["$ref"].(string); ok {
		target, err := s.resolve(ref)
		if err != nil {
			*probs = append(*probs, path+": "+err.Error())
			return
		}
		// x-nullable next to a $ref applies to the reference.
		if v == nil && schema["x-nullable"] == true {
			return
		}
		s.validate(path, target, v, optional, probs, depth+1)
		return
	}
	if v == nil {
		if schema["x-nullable"] == true || len(schema) == 0 || optional && !s.strictNull {
			return
		}
		typ, _ := schema["type"].(string)
		if typ != "" {
			*probs = append(*probs, fmt.Sprintf("%s: expected %s, got null", path, typ))
			return
		}
	}
	if all, ok := schema["allOf"].([]any); ok {
		for _, sub := range all {
			if m, ok := sub.(map[string]any); ok {
				s.validate(path, m, v, optional, probs, depth+1)
			}
		}
	}
	typ, _ := schema["type"].(string)
	if typ == "" {
		// Untyped: infer object from properties, else anything goes.
		if _, ok := schema["properties"]; ok {
			typ = "object"
		} else if _, ok := schema["additionalProperties"]; ok {
			typ = "object"
		}
	}
	if typ != "" && !matchesType(typ, v) {
		*probs = append(*probs, fmt.Sprintf("%s: expected %s, got %s", path, typ, jsonType(v)))
		return
	}
	if enum, ok := schema["enum"].([]any); ok && v != nil && !inEnum(enum, v) {
		*probs = append(*probs, fmt.Sprintf("%s: value %s not in enum %s", path, show(v), show(enum)))
	}
	switch val := v.(type) {
	case map[string]any:
		s.validateObject(path, schema, val, probs, depth)
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, e := range val {
				s.validate(fmt.Sprintf("%s[%d]", path, i), items, e, false, probs, depth+1)
			}
		}
	}
}

func (s *Spec) validateObject(path string, schema map[string]any, obj map[string]any, probs *[]string, depth int) {
	props, _ := schema["properties"].(map[string]any)
	required := map[string]bool{}
	if req, ok := schema["required"].([]any); ok {
		for _, r := range req {
			name, _ := r.(string)
			required[name] = true
			if _, ok := obj[name]; !ok {
				*probs = append(*probs, fmt.Sprintf("%s: missing required property %q", path, name))
			}
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		child := path + "." + k
		if p, ok := props[k].(map[string]any); ok {
			s.validate(child, p, obj[k], !required[k], probs, depth+1)
			continue
		}
		switch ap := schema["additionalProperties"].(type) {
		case bool:
			if !ap && props != nil {
				*probs = append(*probs, fmt.Sprintf("%s: unexpected property", child))
			}
		case map[string]any:
			s.validate(child, ap, obj[k], true, probs, depth+1)
		}
	}
}

func matchesType(typ string, v any) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		_, err := strconv.ParseUint(string(n), 10, 64)
		return err == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "file":
		return true
	}
	return true // unknown type names are not ours to police
}

func jsonType(v any) string {
	switch n := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := n.Int64(); err == nil {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func inEnum(enum []any, v any) bool {
	for _, e := range enum {
		if fmt.Sprint(e) == fmt.Sprint(v) {
			return true
		}
		// YAML enum values may decode as nil ("" written as ~ or empty).
		if e == nil && v == "" {
			return true
		}
	}
	return false
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Check fails t unless body is a valid response of (method, pathTemplate,
// status) in the swagger of API version ("1.51"). pathTemplate is the
// swagger path ("/containers/{id}/json"). With BERTH_APITEST_STRICT_NULL=1
// in the environment it checks with StrictNull.
func Check(t testing.TB, version, method, pathTemplate string, status int, body []byte) {
	t.Helper()
	spec, err := Load(version)
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	if os.Getenv("BERTH_APITEST_STRICT_NULL") == "1" {
		spec = spec.StrictNull()
	}
	if err := spec.ValidateResponse(method, pathTemplate, status, body); err != nil {
		t.Errorf("apitest: %s %s -> %d does not match API %s:\n%v\nbody: %s", method, pathTemplate, status, version, err, truncate(body))
	}
}

func truncate(b []byte) string {
	if len(b) > 2048 {
		return string(b[:2048]) + "..."
	}
	return string(b)
}
