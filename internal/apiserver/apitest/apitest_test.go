package apitest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

const doc = `
swagger: "2.0"
definitions:
  ErrorResponse:
    type: "object"
    required: [message]
    properties:
      message:
        type: "string"
  State:
    type: "object"
    properties:
      Status:
        type: "string"
        enum: ["created", "running", "exited"]
      Pid:
        type: "integer"
      Health:
        x-nullable: true
        type: "object"
        properties:
          Status:
            type: "string"
  Base:
    type: "object"
    required: [Id]
    properties:
      Id:
        type: "string"
  Container:
    allOf:
      - $ref: "#/definitions/Base"
      - type: "object"
        properties:
          State:
            $ref: "#/definitions/State"
          Labels:
            type: "object"
            additionalProperties:
              type: "string"
          Ports:
            type: "array"
            items:
              type: "integer"
          Sealed:
            type: "object"
            additionalProperties: false
            properties:
              A:
                type: "number"
paths:
  /containers/{id}/json:
    get:
      responses:
        200:
          schema:
            $ref: "#/definitions/Container"
        404:
          schema:
            $ref: "#/definitions/ErrorResponse"
  /containers/{id}/start:
    post:
      responses:
        "204":
          description: "no error"
`

func mustParse(t *testing.T) *Spec {
	t.Helper()
	s, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("not a ValidationError: %v", err)
	}
	return ve.Problems
}

func TestValidateResponse(t *testing.T) {
	s := mustParse(t)
	cases := []struct {
		name string
		body string
		want []string // exact problems, in order
	}{
		{"valid", `{"Id":"abc","State":{"Status":"running","Pid":42,"Health":null},"Labels":{"a":"b"},"Ports":[1,2],"Sealed":{"A":1.5}}`, nil},
		{"wrong type", `{"Id":"abc","State":{"Pid":"42"}}`, []string{"$.State.Pid: expected integer, got string"}},
		{"float for integer", `{"Id":"abc","State":{"Pid":4.2}}`, []string{"$.State.Pid: expected integer, got number"}},
		{"missing required from allOf", `{"State":{}}`, []string{`$: missing required property "Id"`}},
		{"enum", `{"Id":"x","State":{"Status":"dead"}}`, []string{`$.State.Status: value "dead" not in enum ["created","running","exited"]`}},
		{"null string", `{"Id":null}`, []string{"$.Id: expected string, got null"}},
		{"additionalProperties schema", `{"Id":"x","Labels":{"a":1}}`, []string{"$.Labels.a: expected string, got integer"}},
		{"additionalProperties false", `{"Id":"x","Sealed":{"A":1,"B":2}}`, []string{"$.Sealed.B: unexpected property"}},
		{"items", `{"Id":"x","Ports":[1,"2",3]}`, []string{"$.Ports[1]: expected integer, got string"}},
		{"top-level type", `[]`, []string{"$: expected object, got array"}},
		{"several", `{"Id":7,"State":{"Pid":true}}`, []string{"$.Id: expected string, got integer", "$.State.Pid: expected integer, got boolean"}},
		{"invalid json", `{"Id":`, []string{"$: invalid JSON: unexpected EOF"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := problems(t, s.ValidateResponse(http.MethodGet, "/containers/{id}/json", 200, []byte(c.body)))
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("problems:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestValidateResponseLookup(t *testing.T) {
	s := mustParse(t)
	if err := s.ValidateResponse("GET", "/containers/{id}/json", 404, []byte(`{"message":"no such container"}`)); err != nil {
		t.Errorf("404 body: %v", err)
	}
	if err := s.ValidateResponse("POST", "/containers/{id}/start", 204, nil); err != nil {
		t.Errorf("204 without body: %v", err)
	}
	if err := s.ValidateResponse("POST", "/containers/{id}/start", 204, []byte(`{}`)); err == nil {
		t.Error("204 with a body passed")
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/nope", 200}, {"DELETE", "/containers/{id}/json", 200}, {"GET", "/containers/{id}/json", 409}} {
		if err := s.ValidateResponse(c.method, c.path, c.status, []byte(`{}`)); err == nil {
			t.Errorf("%s %s %d: undocumented response accepted", c.method, c.path, c.status)
		}
	}
}

func TestBadRef(t *testing.T) {
	s, err := Parse([]byte(`
paths:
  /x:
    get:
      responses:
        "200":
          schema:
            $ref: "#/definitions/Missing"
`))
	if err != nil {
		t.Fatal(err)
	}
	got := problems(t, s.ValidateResponse("GET", "/x", 200, []byte(`{}`)))
	if len(got) != 1 || !strings.Contains(got[0], `unresolvable $ref "#/definitions/Missing"`) {
		t.Errorf("got %q", got)
	}
}

// Real documents from the module cache, with bodies shaped as dockerd
// sends them.
func TestRealSwagger(t *testing.T) {
	for _, v := range []string{"1.24", "1.99"} {
		if _, err := Load(v); err == nil {
			t.Errorf("Load(%s): want error (no such document)", v)
		}
	}
	s, err := Load("1.51")
	if err != nil {
		t.Fatal(err)
	}
	ping := `{"Platform":{"Name":"Docker Engine - Community"},"Version":"28.2.2","ApiVersion":"1.51","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64","KernelVersion":"6.1.0","GitCommit":"abc","GoVersion":"go1.24.3"}`
	if err := s.ValidateResponse("GET", "/version", 200, []byte(ping)); err != nil {
		t.Errorf("/version: %v", err)
	}
	bad := strings.Replace(ping, `"ApiVersion":"1.51"`, `"ApiVersion":1.51`, 1)
	got := problems(t, s.ValidateResponse("GET", "/version", 200, []byte(bad)))
	if len(got) != 1 || got[0] != "$.ApiVersion: expected string, got number" {
		t.Errorf("/version with numeric ApiVersion: %q", got)
	}
	wait := `{"StatusCode":137,"Error":{"Message":"killed"}}`
	if err := s.ValidateResponse("POST", "/containers/{id}/wait", 200, []byte(wait)); err != nil {
		t.Errorf("wait: %v", err)
	}
	if got := problems(t, s.ValidateResponse("POST", "/containers/{id}/wait", 200, []byte(`{}`))); len(got) != 1 || !strings.Contains(got[0], `"StatusCode"`) {
		t.Errorf("wait without StatusCode: %q", got)
	}
	state := `{"Id":"abc","State":{"Status":"paused-ish"}}`
	got = problems(t, s.ValidateResponse("GET", "/containers/{id}/json", 200, []byte(state)))
	if len(got) != 1 || !strings.HasPrefix(got[0], `$.State.Status: value "paused-ish" not in enum`) {
		t.Errorf("inspect with bad state: %q", got)
	}
	if err := s.ValidateResponse("GET", "/_ping", 200, []byte("OK")); err != nil {
		t.Errorf("/_ping text body: %v", err)
	}
	// Every version document parses and has /_ping.
	for _, v := range []string{"1.25", "1.41", "1.44", "1.50"} {
		s, err := Load(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResponseSchema("GET", "/_ping", 200); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

func TestValidateNumbers(t *testing.T) {
	s := mustParse(t)
	schema := map[string]any{"type": "integer"}
	for _, n := range []string{"0", "-3", "18446744073709551615"} {
		if err := s.Validate(schema, json.Number(n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if err := s.Validate(schema, json.Number("1e3")); err == nil {
		t.Error("1e3 accepted as integer")
	}
}

func TestNullPolicy(t *testing.T) {
	s := mustParse(t)
	body := []byte(`{"Id":"x","Labels":null,"Ports":null,"State":{"Pid":null,"Health":null}}`)
	if err := s.ValidateResponse("GET", "/containers/{id}/json", 200, body); err != nil {
		t.Errorf("default: null optional property rejected: %v", err)
	}
	got := problems(t, s.StrictNull().ValidateResponse("GET", "/containers/{id}/json", 200, body))
	want := []string{"$.Labels: expected object, got null", "$.Ports: expected array, got null", "$.State.Pid: expected integer, got null"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("strict:\n got %q\nwant %q", got, want)
	}
	// Required properties, array elements and the body are never null
	// unless x-nullable.
	got = problems(t, s.ValidateResponse("GET", "/containers/{id}/json", 200, []byte(`{"Id":null,"Ports":[1,null]}`)))
	want = []string{"$.Id: expected string, got null", "$.Ports[1]: expected integer, got null"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("required:\n got %q\nwant %q", got, want)
	}
	if err := s.ValidateResponse("GET", "/containers/{id}/json", 200, []byte(`null`)); err == nil {
		t.Error("null body accepted")
	}
}
