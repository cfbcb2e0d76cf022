// Package pkitest makes throwaway certificate authorities and certificates
// for tests of the TLS listeners and clients: a CA, server certificates for
// loopback, client certificates, and the bad ones (expired, signed by
// another CA, server-only usage) that must be refused at the handshake.
package pkitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

var serial atomic.Int64

// CA is a test certificate authority.
type CA struct {
	t    testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is the CA certificate in PEM.
	File string
}

// Pair is a certificate and key written as PEM files.
type Pair struct{ Cert, Key string }

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, b []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// NewCA makes a CA whose certificate is dir/name.pem.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: "berth test CA " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	ca := &CA{t: t, cert: c, key: k, File: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// Options shape an issued certificate.
type Options struct {
	Usage    x509.ExtKeyUsage // ServerAuth or ClientAuth
	IPs      []net.IP
	DNSNames []string
	Expired  bool
}

// Issue writes dir/name-cert.pem and dir/name-key.pem signed by the CA.
func (ca *CA) Issue(dir, name string, o Options) Pair {
	t := ca.t
	t.Helper()
	k := newKey(t)
	nb, na := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if o.Expired {
		nb, na = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: nb, NotAfter: na, ExtKeyUsage: []x509.ExtKeyUsage{o.Usage},
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: o.IPs, DNSNames: o.DNSNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{Cert: filepath.Join(dir, name+"-cert.pem"), Key: filepath.Join(dir, name+"-key.pem")}
	writePEM(t, p.Cert, "CERTIFICATE", der)
	writePEM(t, p.Key, "EC PRIVATE KEY", kb)
	return p
}

// Server issues a server certificate for 127.0.0.1, ::1 and localhost.
func (ca *CA) Server(dir, name string) Pair {
	return ca.Issue(dir, name, Options{Usage: x509.ExtKeyUsageServerAuth,
		IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"}})
}

// Client issues a client certificate.
func (ca *CA) Client(dir, name string) Pair {
	return ca.Issue(dir, name, Options{Usage: x509.ExtKeyUsageClientAuth})
}
