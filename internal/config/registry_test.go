package config

import (
	"strings"
	"testing"
)

func TestRegistryOptions(t *testing.T) {
	c, err := load(t, `{"registry-mirrors":["http://127.0.0.1:5000/"],"insecure-registries":["myreg:5000","10.0.0.0/8"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mirrors) != 1 || c.Mirrors[0] != "http://127.0.0.1:5000" || len(c.InsecureRegistries) != 2 {
		t.Fatalf("from daemon.json: %+v", c.Registry)
	}
	c, err = load(t, "", "--registry-mirror", "https://mirror.example", "--insecure-registry", "a:1", "--insecure-registry", "b:2")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mirrors) != 1 || len(c.InsecureRegistries) != 2 {
		t.Fatalf("from flags: %+v", c.Registry)
	}
	for _, tc := range []struct {
		file string
		args []string
		want string
	}{
		{`{"registry-mirrors":["http://m"]}`, []string{"--registry-mirror", "http://n"}, "specified both as a flag and in the configuration file: registry-mirrors"},
		{`{}`, []string{"--registry-mirror", "ftp://m"}, `invalid mirror: "ftp://m" is not a valid URI`},
		{`{}`, []string{"--registry-mirror", "http://m/path"}, "path or query not allowed"},
		{`{}`, []string{"--insecure-registry", "http://reg:5000"}, "should not contain '://'"},
	} {
		_, err := load(t, tc.file, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want %q", tc.file, tc.args, err, tc.want)
		}
	}
}
