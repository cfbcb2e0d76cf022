package images

import (
	"encoding/base64"
	"testing"
)

// X-Registry-Auth is base64url JSON; clients send it padded or not.
func TestDecodeAuth(t *testing.T) {
	js := `{"username":"alice","password":"p?s>s","serveraddress":"127.0.0.1:5000"}`
	for _, h := range []string{base64.URLEncoding.EncodeToString([]byte(js)), base64.RawURLEncoding.EncodeToString([]byte(js))} {
		ac, err := decodeAuth(h)
		if err != nil || ac.Username != "alice" || ac.Password != "p?s>s" || ac.ServerAddress != "127.0.0.1:5000" {
			t.Fatalf("decodeAuth(%s) = %+v, %v", h, ac, err)
		}
	}
	if ac, err := decodeAuth(""); err != nil || ac.Username != "" {
		t.Fatalf("empty header: %+v %v", ac, err)
	}
	if _, err := decodeAuth("!!!"); err == nil {
		t.Fatal("bad header accepted")
	}
}
