package alerts

import (
	"errors"
	"io"
	"net/http"
)

// ReadBody reads a webhook body of at most limit bytes. When it cannot, it
// returns the status to refuse the request with: 413 when the body is too
// large, 400 when it could not be read.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge, err
		}
		return nil, http.StatusBadRequest, err
	}
	return body, http.StatusOK, nil
}

// Reply writes a short plain-text answer; webhook senders only log it.
func Reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}
