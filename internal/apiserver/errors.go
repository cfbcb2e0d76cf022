package apiserver

import (
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/common"

	"github.com/berth-dev/berth/internal/errdefs"
)

// statusFor is the one place an error becomes an HTTP status.
func statusFor(err error) int {
	switch errdefs.ClassOf(err) {
	case errdefs.InvalidArgument:
		return http.StatusBadRequest
	case errdefs.Unauthorized:
		return http.StatusUnauthorized
	case errdefs.Forbidden:
		return http.StatusForbidden
	case errdefs.NotFound:
		return http.StatusNotFound
	case errdefs.NotModified:
		return http.StatusNotModified
	case errdefs.Conflict:
		return http.StatusConflict
	case errdefs.NotImplemented:
		return http.StatusNotImplemented
	case errdefs.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError writes err as {"message": ...} with its status; a 304 has no
// body.
func writeError(w http.ResponseWriter, err error) {
	writeErrorStatus(w, statusFor(err), err.Error())
}

func writeErrorStatus(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	if status == http.StatusNotModified {
		h.Del("Content-Type")
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(common.ErrorResponse{Message: msg})
}
