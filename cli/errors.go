package cli

import (
	"errors"
	"strconv"
	"strings"

	"github.com/moby/moby/client"
)

// StatusError carries a message (may be empty: already printed) and the
// process exit code.
type StatusError struct {
	Status     string
	StatusCode int
}

func (e StatusError) Error() string {
	if e.Status == "" {
		return "exit status " + strconv.Itoa(e.StatusCode)
	}
	return e.Status
}

// exitCode maps a command's error to the process status and the text to
// print (empty when nothing should be printed).
func exitCode(err error) (int, string) {
	if err == nil {
		return 0, ""
	}
	var se StatusError
	if errors.As(err, &se) {
		code := se.StatusCode
		if code == 0 {
			code = 1
		}
		return code, se.Status
	}
	return 1, err.Error()
}

// startErrorCode maps a create/start failure to docker's exit status: 127
// when the command was not found, 126 when it could not be invoked, else 125.
func startErrorCode(err error) int {
	if client.IsErrConnectionFailed(err) {
		return 125 // its dial error may say "no such file or directory"
	}
	msg := strings.TrimPrefix(err.Error(), "Error response from daemon: ")
	switch {
	case strings.Contains(msg, "executable file not found"),
		strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "system cannot find the file specified"):
		return 127
	case strings.Contains(msg, "permission denied"),
		strings.Contains(msg, "is a directory"):
		return 126
	}
	return 125
}
