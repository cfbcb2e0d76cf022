package monitor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const exitFile = "exit.json"

// exitRecord is <exec-root>/containers/<id>/exit.json.
type exitRecord struct {
	ID        string    `json:"id"`
	Pid       int       `json:"pid"`
	Code      int       `json:"exitCode"`
	OOMKilled bool      `json:"oomKilled"`
	At        time.Time `json:"exitedAt"`
}

func (r exitRecord) Exit() Exit { return Exit{Code: r.Code, OOMKilled: r.OOMKilled, At: r.At} }

// writeExitFile writes the record atomically: temp file, fsync, rename.
func writeExitFile(path string, rec exitRecord) error { return writeJSONFile(path, rec) }

// writeJSONFile writes v as JSON atomically: temp file, fsync, rename.
func writeJSONFile(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.json")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readExitFile(path string) (exitRecord, error) {
	var rec exitRecord
	err := readJSONFile(path, &rec)
	return rec, err
}
